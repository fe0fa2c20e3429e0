/**
 * TDTM (Temporal Dimension Token Merging, On-device Sora §5) as a token op: for the first
 * `mergeSteps` model calls, every attention of every denoiser block (spatial self-, temporal self- and
 * cross-attention) sees averages of consecutive frame pairs, and its output is repeated back to full T.
 * The block graph does the arithmetic; this plugin only builds the `merge_t` [T', T] and `unmerge_t`
 * [T, T'] operators.
 *
 * Odd T (`oddFrame`):
 * - `alone` (default): the last frame is its own merged token (T' = ⌈T/2⌉), so every frame is attended.
 * - `reference`: the authors' code: the last frame is left out of the merge (T' = ⌊T/2⌋) and takes the
 *   last pair's output on unmerge. Their tensors only fit for T mod 4 ∈ {0, 3} (or T = 30); the operators
 *   here are defined for every T.
 *
 * `chunk` (beyond the paper; off by default, as in the authors' code): latent frames per temporal-VAE chunk
 * (Open-Sora v1.2: 5, one per 17 pixel frames). Pairs are then formed inside each chunk and never merge the
 * last latent frame of one chunk with the first of the next, which the VAE encodes alone (a key frame); an
 * odd chunk's last frame is its own token (T = 10, chunk 5: T' = 6).
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../runtime/core/registry.ts";
import { tensor } from "../runtime/core/tensor.ts";
import type { TimeOperators } from "../runtime/core/types.ts";

/** Options of the `tdtm` token op. */
export const tdtmOptions = z.object({
  /** Merge for model calls with step index < mergeSteps (the paper: 15 of 30). */
  mergeSteps: z.number().int().min(0).default(15),
  /** What happens to the last frame when T is odd. */
  oddFrame: z.enum(["alone", "reference"]).default("alone"),
  /** Latent frames per temporal-VAE chunk: merge pairs only inside a chunk (absent: across, as the paper). */
  chunk: z.number().int().min(1).optional(),
}).strict().refine((o) => o.chunk === undefined || o.oddFrame === "alone", {
  message: "chunk needs oddFrame 'alone' (the authors' odd-frame rule has no chunks)",
});

/** The options of {@link tdtm} after validation. */
export type TdtmOptions = z.infer<typeof tdtmOptions>;

/**
 * The pair-averaging merge [T', T] and repeat unmerge [T, T'] for `frames` latent frames, or `null` when
 * there is nothing to merge (T < 2).
 *
 * @example
 * ```ts
 * const ops = tdtmOperators(3, "alone")!;
 * ops.merge.dims; // [2, 3]: rows (f0+f1)/2 and f2
 * ```
 */
export function tdtmOperators(
  frames: number,
  oddFrame: TdtmOptions["oddFrame"],
  chunk?: number,
): TimeOperators | null {
  if (!Number.isInteger(frames) || frames < 1) {
    throw new RangeError(`Cannot build TDTM operators: frame count "${frames}" is not a positive integer`);
  }
  if (frames < 2) return null;
  // Pairs inside each chunk (one chunk when there are none); an odd chunk's last frame is its own group,
  // except under `reference`, where it is left out of the merge.
  const size = chunk ?? frames;
  const groups: number[][] = [];
  for (let start = 0; start < frames; start += size) {
    const end = Math.min(start + size, frames);
    for (let i = start; i < end; i += 2) {
      if (i + 1 < end) groups.push([i, i + 1]);
      else if (oddFrame === "alone") groups.push([i]);
    }
  }
  return groupOperators(frames, groups);
}

/**
 * The merge averaging each group of frames into one token, and the unmerge repeating a token to its frames; a
 * frame in no group (the authors' odd last frame) takes the last token.
 */
function groupOperators(frames: number, groups: readonly number[][]): TimeOperators {
  const merged = groups.length;
  const merge = new Float32Array(merged * frames);
  const unmerge = new Float32Array(frames * merged);
  const source = new Array<number>(frames).fill(merged - 1);
  groups.forEach((g, j) => {
    for (const i of g) {
      merge[j * frames + i] = 1 / g.length;
      source[i] = j;
    }
  });
  source.forEach((j, i) => (unmerge[i * merged + j] = 1));
  return {
    merge: tensor("float32", [merged, frames], merge),
    unmerge: tensor("float32", [frames, merged], unmerge),
  };
}

/**
 * The `tdtm` token-op plugin definition.
 *
 * @example
 * ```ts ignore
 * const op = instantiate(tdtm, { mergeSteps: 15 });
 * op.operators({ step: 0, total: 30, t: 1000 }, 20)?.merge.dims; // [10, 20]
 * op.operators({ step: 15, total: 30, t: 600 }, 20); // null (identity)
 * ```
 */
export const tdtm = definePlugin({
  name: "tdtm",
  kind: "token-op",
  options: tdtmOptions,
  create: ({ mergeSteps, oddFrame, chunk }) => ({
    operators: (step, frames) => step.step < mergeSteps ? tdtmOperators(frames, oddFrame, chunk) : null,
  }),
});
