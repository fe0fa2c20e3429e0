/**
 * The VAE stage: latent → video, the Open-Sora v1.2 `VideoAutoencoderPipeline.decode` bookkeeping driven
 * only by the bundle's `vae` parameters (export/BUNDLE.md).
 *
 * Temporal phase (the blocks up to the one that outputs `z_frames`): chunks of `chunk_latents` latent
 * frames are decoded independently; with `remaining` = F frames left, a chunk keeps
 * nf = min(chunk_frames, remaining) frames by dropping its first (tf − nf % tf) % tf (tf =
 * `temporal_factor`); chunks are concatenated along time. Spatial phase (the remaining blocks): slices of
 * `spatial_micro_batch` frames → [B, 3, F, H, W]. A bundle may hold only one phase: without a temporal
 * decoder the latent frames are the frames; without a spatial decoder the result is `z_frames`.
 *
 * @module
 */
import { type Bundle, stageOf } from "./bundle.ts";
import { StageError } from "./errors.ts";
import { openStage } from "./stage.ts";
import { concat, slice } from "./tensor.ts";
import type { Budget, Emit, Executor, MemoryScheduler, Plan, Tensor } from "./types.ts";

/** The `vae` parameters the frame bookkeeping reads. */
export interface VaeFrameParams {
  temporal_factor: number;
  chunk_latents: number;
  chunk_frames: number;
}

/**
 * Latent frames for F video frames: q·chunk_latents + ceil(r / temporal_factor), q, r = divmod(F, chunk_frames).
 *
 * @example
 * ```ts
 * import { latentFrames } from "./vae_stage.ts";
 * const v12 = { temporal_factor: 4, chunk_latents: 5, chunk_frames: 17 };
 * [1, 16, 17, 51, 102].map((f) => latentFrames(v12, f)); // [1, 4, 5, 15, 30]
 * ```
 */
export function latentFrames(vae: VaeFrameParams, frames: number): number {
  const q = Math.floor(frames / vae.chunk_frames);
  const r = frames % vae.chunk_frames;
  return q * vae.chunk_latents + Math.ceil(r / vae.temporal_factor);
}

/** The frames a temporal decode of T latents can yield: every F with latentFrames(F) = T. */
export function framesFor(vae: VaeFrameParams, latents: number): number[] {
  const out: number[] = [];
  const max = Math.ceil(latents / vae.chunk_latents) * vae.chunk_frames;
  for (let f = 1; f <= max; f++) if (latentFrames(vae, f) === latents) out.push(f);
  return out;
}

/** Options of {@link decodeVideo}. */
export interface DecodeOptions {
  bundle: Bundle;
  /** The denoised latent [B, C, T, h, w]. */
  latent: Tensor<"float32">;
  /** Video frames F to produce (T must equal latentFrames(F)). */
  frames: number;
  executor: Executor;
  scheduler: MemoryScheduler;
  budget: Budget;
  emit: Emit;
  signal?: AbortSignal;
  origin?: number;
}

/** Split the stage's blocks at the one that outputs `z_frames`. */
function phases(bundle: Bundle) {
  const blocks = stageOf(bundle, "vae").blocks;
  const cut = blocks.findIndex((b) => b.outputs.some((o) => o.name === "z_frames")) + 1;
  return { temporal: blocks.slice(0, cut), spatial: blocks.slice(cut) };
}

type Blocks = ReturnType<typeof phases>["temporal"];

/** Run `blocks` (a sub-chain of the vae stage) once per input, returning the named output of each pass. */
async function runPhase(
  o: DecodeOptions,
  blocks: Blocks,
  inputs: Tensor<"float32">[],
  output: string,
  plans: Plan[],
) {
  const vae = stageOf(o.bundle, "vae");
  const sub: Bundle = { ...o.bundle, vae: { ...vae, blocks } };
  const runner = await openStage({
    bundle: sub,
    stage: "vae",
    executor: o.executor,
    scheduler: o.scheduler,
    budget: o.budget,
    passes: inputs.length,
    emit: o.emit,
    signal: o.signal,
    origin: o.origin,
  });
  plans.push(runner.plan);
  const name = blocks[0].inputs[0].name;
  const results: Tensor<"float32">[] = [];
  try {
    for (const [pass, input] of inputs.entries()) {
      o.signal?.throwIfAborted();
      const env = await runner.run({ [name]: input }, pass);
      const t = env[output];
      if (!t || t.dtype !== "float32") {
        throw new StageError(
          `Cannot decode video: block chain '${blocks.map((b) => b.name)}' gave no '${output}'`,
          "vae",
        );
      }
      results.push(t as Tensor<"float32">);
    }
  } finally {
    await runner.close();
  }
  return results;
}

/**
 * Decode a latent to a video [B, 3, F, H, W] (or `z_frames` when the bundle has no spatial decoder), with
 * the plans the scheduler made for each phase.
 *
 * @example
 * ```ts ignore
 * const { video } = await decodeVideo({ bundle, latent, frames: 51, executor, scheduler, budget: { bytes: null },
 *   emit: () => {} });
 * ```
 */
export async function decodeVideo(o: DecodeOptions): Promise<{ video: Tensor<"float32">; plans: Plan[] }> {
  const plans: Plan[] = [];
  const vae = stageOf(o.bundle, "vae");
  const { temporal, spatial } = phases(o.bundle);
  const T = o.latent.dims[2];
  const fail = (what: string): never => {
    throw new StageError(`Cannot decode video: ${what}`, "vae");
  };
  if (o.latent.dims.length !== 5) {
    fail(`latent dims '${JSON.stringify(o.latent.dims)}' are not [B, C, T, h, w]`);
  }
  let frames: Tensor<"float32">;
  if (temporal.length > 0) {
    if (latentFrames(vae, o.frames) !== T) {
      fail(`'${o.frames}' frames need '${latentFrames(vae, o.frames)}' latent frames, the latent has '${T}'`);
    }
    const chunks: Tensor<"float32">[] = [];
    for (let start = 0; start < T; start += vae.chunk_latents) {
      chunks.push(slice(o.latent, 2, start, Math.min(T, start + vae.chunk_latents)));
    }
    const decoded = await runPhase(o, temporal, chunks, "z_frames", plans);
    let remaining = o.frames;
    const kept = decoded.map((z, i) => {
      const nf = Math.min(vae.chunk_frames, remaining);
      remaining -= vae.chunk_frames;
      const drop = (vae.temporal_factor - (nf % vae.temporal_factor)) % vae.temporal_factor;
      if (z.dims[2] - drop !== nf) {
        fail(`chunk ${i} decoded to '${z.dims[2]}' frames; keeping '${nf}' needs '${nf + drop}'`);
      }
      return slice(z, 2, drop, z.dims[2]);
    });
    frames = kept.length === 1 ? kept[0] : concat(kept, 2);
  } else {
    if (T !== o.frames) {
      fail(
        `the bundle has no temporal decoder, so '${o.frames}' frames need '${o.frames}' latents, not '${T}'`,
      );
    }
    frames = o.latent;
  }
  if (spatial.length === 0) return { video: frames, plans };
  const slices: Tensor<"float32">[] = [];
  for (let s = 0; s < o.frames; s += vae.spatial_micro_batch) {
    slices.push(slice(frames, 2, s, Math.min(o.frames, s + vae.spatial_micro_batch)));
  }
  const output = spatial[spatial.length - 1].outputs[0].name;
  const pixels = await runPhase(o, spatial, slices, output, plans);
  return { video: pixels.length === 1 ? pixels[0] : concat(pixels, 2), plans };
}
