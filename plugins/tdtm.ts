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
 * Beyond the paper (both off by default, as in the authors' code):
 * - `chunk`: latent frames per temporal-VAE chunk (Open-Sora v1.2: 5, one per 17 pixel frames). The VAE
 *   encodes a chunk's first latent frame from one pixel frame alone (a key frame, image-like) and each of the
 *   others from four; merging a key frame with its neighbour averages two different kinds of latent. With a
 *   chunk size, each chunk's first frame stays its own token and only the frames after it pair up (an odd one
 *   left over is alone): T = 10, chunk 5 gives [0] [1 2] [3 4] [5] [6 7] [8 9], T' = 6.
 * - `positions: "time"`: the temporal attention's rotary embedding places each merged token at the mean of
 *   its frames (the groups above: 0, 1.5, 3.5, 5, 6.5, 8.5) instead of at its index 0..T'−1 (`"index"`, the
 *   authors'), so merged steps keep the frames' real spacing in time.
 *
 * On odsora's default model, the authors' merge breaks the second temporal-VAE chunk's colour and
 * background; `chunk: 5, positions: time` keeps them (models/train/README.md, "TDTM and key frames").
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
  /** Latent frames per temporal-VAE chunk: each chunk's key frame alone, pairs after it (absent: the paper's). */
  chunk: z.number().int().min(1).optional(),
  /** Merged tokens' rotary positions: their index (the authors') or their frames' mean time. */
  positions: z.enum(["index", "time"]).default("index"),
}).strict().refine((o) => o.chunk === undefined || o.oddFrame === "alone", {
  message: "chunk needs oddFrame 'alone' (the authors' odd-frame rule has no chunks)",
});

/** The options of {@link tdtm} after validation. */
export type TdtmOptions = z.infer<typeof tdtmOptions>;

/**
 * The pair-averaging merge [T', T] and repeat unmerge [T, T'] for `frames` latent frames, or `null` when
 * there is nothing to merge (T < 2); with `positions: "time"` also each token's mean frame index.
 *
 * @example
 * ```ts
 * const ops = tdtmOperators(3, "alone")!;
 * ops.merge.dims; // [2, 3]: rows (f0+f1)/2 and f2
 * tdtmOperators(10, "alone", 5, "time")!.positions!.data; // [0, 1.5, 3.5, 5, 6.5, 8.5]
 * ```
 */
export function tdtmOperators(
  frames: number,
  oddFrame: TdtmOptions["oddFrame"],
  chunk?: number,
  positions: TdtmOptions["positions"] = "index",
): TimeOperators | null {
  if (!Number.isInteger(frames) || frames < 1) {
    throw new RangeError(`Cannot build TDTM operators: frame count "${frames}" is not a positive integer`);
  }
  if (frames < 2) return null;
  // Without chunks: pairs from the first frame; an odd last frame is its own group, except under
  // `reference`, where it is left out of the merge. With chunks: each chunk's key frame alone, then pairs.
  const size = chunk ?? frames;
  const groups: number[][] = [];
  for (let start = 0; start < frames; start += size) {
    const end = Math.min(start + size, frames);
    if (chunk !== undefined) groups.push([start]);
    for (let i = chunk === undefined ? start : start + 1; i < end; i += 2) {
      if (i + 1 < end) groups.push([i, i + 1]);
      else if (oddFrame === "alone") groups.push([i]);
    }
  }
  const ops = groupOperators(frames, groups);
  if (positions === "index") return ops;
  const time = Float32Array.from(groups, (g) => g.reduce((a, b) => a + b, 0) / g.length);
  return { ...ops, positions: tensor("float32", [groups.length], time) };
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
  create: ({ mergeSteps, oddFrame, chunk, positions }) => ({
    operators: (step, frames) =>
      step.step < mergeSteps ? tdtmOperators(frames, oddFrame, chunk, positions) : null,
  }),
});
