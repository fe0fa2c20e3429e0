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
import { type Bundle, stageOf } from "../bundle/bundle.ts";
import { BudgetError, StageError } from "../core/errors.ts";
import type { RunContext } from "../core/run_context.ts";
import { openStage, type StageRunner } from "../core/stage.ts";
import { concat, slice } from "../core/tensor.ts";
import type { Budget, Plan, StageInfo, Tensor } from "../core/types.ts";
import { vaeWorkBytes } from "../core/work_estimate.ts";

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
export interface DecodeOptions extends RunContext {
  bundle: Bundle;
  /** The denoised latent [B, C, T, h, w]. */
  latent: Tensor<"float32">;
  /** Video frames F to produce (T must equal latentFrames(F)). */
  frames: number;
  budget: Budget;
  /**
   * The run's budget source: called before each phase with the bytes the stage adds outside its blocks
   * (the decoded frames, their copies, the video writer's); replaces `budget`.
   */
  budgetFor?: (fixedBytes: number) => Budget;
  /** Open a window measuring peak added RSS (runtime/core/run_memory.ts); enables the micro-batch re-plan. */
  window?: () => () => number;
  /** RSS the run holds now over its base (freed heap returned first), bytes. */
  added?: () => number;
  /** Receives notes for the report (a micro-batch shrunk to fit, and why). */
  note?: (message: string) => void;
}

/** Split the stage's blocks at the one that outputs `z_frames`. */
function phases(bundle: Bundle) {
  const blocks = stageOf(bundle, "vae").blocks;
  const cut = blocks.findIndex((b) => b.outputs.some((o) => o.name === "z_frames")) + 1;
  return { temporal: blocks.slice(0, cut), spatial: blocks.slice(cut) };
}

type Blocks = ReturnType<typeof phases>["temporal"];

/** Open a runner for `blocks` (a sub-chain of the vae stage) with each call's working memory. */
function openPhase(o: DecodeOptions, blocks: Blocks, passes: number, work: number, fixed: number) {
  const vae = stageOf(o.bundle, "vae");
  const sub: Bundle = { ...o.bundle, vae: { ...vae, blocks } };
  return openStage({
    bundle: sub,
    stage: "vae",
    executor: o.executor,
    scheduler: o.scheduler,
    budget: o.budgetFor ? o.budgetFor(fixed) : o.budget,
    passes,
    workBytes: work,
    emit: o.emit,
    signal: o.signal,
    origin: o.origin,
    startLanes: o.startLanes,
  });
}

/**
 * The VAE's phases as their planner sees them at the smallest micro-batch (one frame), with each phase's
 * fixed bytes (preflight: no plan can need less).
 */
export function vaeStageInfos(
  bundle: Bundle,
  latentDims: readonly number[],
  frames: number,
): { info: StageInfo; fixed: number }[] {
  const vae = stageOf(bundle, "vae");
  const { temporal, spatial } = phases(bundle);
  const [B, C, T, h, w] = latentDims;
  const out: { info: StageInfo; fixed: number }[] = [];
  const info = (blocks: Blocks, work: number, passes: number): StageInfo => ({
    stage: "vae",
    blocks: blocks.map((b) => ({ name: b.name, bytes: b.bytes, workBytes: work })),
    passes,
  });
  if (temporal.length > 0) {
    const work = phaseWork(temporal, vae.chunk_latents * vae.temporal_factor, h * w, C);
    out.push({
      info: info(temporal, work, Math.ceil(T / vae.chunk_latents)),
      fixed: 3 * 4 * B * C * frames * h * w,
    });
  }
  if (spatial.length > 0) {
    const pixels = h * w * vae.spatial_factor * vae.spatial_factor;
    const video = 4 * B * 3 * frames * pixels;
    out.push({ info: info(spatial, phaseWork(spatial, 1, pixels, C), frames), fixed: 2 * video + video / 4 });
  }
  return out;
}

/** Run one pass of `runner` on `input`, returning its named output. */
async function runPass(
  o: DecodeOptions,
  runner: StageRunner,
  blocks: Blocks,
  input: Tensor<"float32">,
  output: string,
  pass: number,
): Promise<Tensor<"float32">> {
  o.signal?.throwIfAborted();
  const env = await runner.run({ [blocks[0].inputs[0].name]: input }, pass);
  const t = env[output];
  if (!t || t.dtype !== "float32") {
    throw new StageError(
      `Cannot decode video: block chain '${blocks.map((b) => b.name)}' gave no '${output}'`,
      "vae",
    );
  }
  return t as Tensor<"float32">;
}

/** Working memory of one call of `blocks` on `frames` frames of `pixels` output pixels (the largest block's). */
function phaseWork(blocks: Blocks, frames: number, pixels: number, channels: number): number {
  return Math.max(0, ...blocks.map((b) => vaeWorkBytes({ params: b.params, frames, pixels, channels })));
}

/** Run `blocks` once per input, returning the named output of each pass. */
async function runPhase(
  o: DecodeOptions,
  blocks: Blocks,
  inputs: Tensor<"float32">[],
  output: string,
  plans: Plan[],
  work: number,
  fixed: number,
) {
  const runner = await openPhase(o, blocks, inputs.length, work, fixed);
  plans.push(runner.plan);
  const results: Tensor<"float32">[] = [];
  try {
    for (const [pass, input] of inputs.entries()) {
      results.push(await runPass(o, runner, blocks, input, output, pass));
    }
  } finally {
    await runner.close();
  }
  return results;
}

/**
 * The spatial phase in micro-batches of at most the bundle's `spatial_micro_batch` frames, fewer when the
 * budget needs it (the decode of a frame does not depend on the others: numerics are unchanged). The
 * largest micro-batch whose plan fits is used; after the first call the run measures what a frame took
 * and shrinks the micro-batch for the rest when the estimate was short.
 */
async function runSpatial(
  o: DecodeOptions,
  blocks: Blocks,
  frames: Tensor<"float32">,
  output: string,
  plans: Plan[],
  fixed: number,
): Promise<Tensor<"float32">[]> {
  const vae = stageOf(o.bundle, "vae");
  const [, channels, F, h, w] = frames.dims;
  const pixels = h * w * vae.spatial_factor * vae.spatial_factor;
  const most = Math.max(1, Math.min(vae.spatial_micro_batch, F));
  let mb = most;
  let runner: StageRunner | null = null;
  for (; mb >= 1; mb--) {
    try {
      runner = await openPhase(o, blocks, Math.ceil(F / mb), phaseWork(blocks, mb, pixels, channels), fixed);
      break;
    } catch (e) {
      if (!(e instanceof BudgetError) || mb === 1) throw e;
    }
  }
  if (mb < most) {
    o.note?.(`VAE spatial micro-batch shrunk from ${most} to ${mb} frame(s) to fit the budget (estimate)`);
  }
  plans.push(runner!.plan);
  const results: Tensor<"float32">[] = [];
  try {
    let pass = 0;
    for (let s = 0; s < F; pass++) {
      const n = Math.min(mb, F - s);
      const before = o.added?.() ?? 0;
      const peak = o.window?.();
      results.push(await runPass(o, runner!, blocks, slice(frames, 2, s, s + n), output, pass));
      s += n;
      const budget = o.budgetFor?.(fixed).bytes ?? null;
      if (peak && pass === 0 && s < F && budget !== null) {
        // Measured: what one frame of this micro-batch added (weights, outputs and all) over the stage's start.
        const perFrame = Math.max(0, peak() - before) / n;
        const fits = Math.max(1, Math.floor((budget + (o.added?.() ?? 0) - before) / Math.max(1, perFrame)));
        if (fits < mb) {
          o.note?.(
            `VAE spatial micro-batch re-planned from ${mb} to ${fits} frame(s) after the first call measured ` +
              `${(perFrame / 2 ** 20).toFixed(1)} MiB a frame`,
          );
          mb = fits;
        }
      }
    }
  } finally {
    await runner!.close();
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
    const [, , , h, w] = o.latent.dims;
    const tf = vae.temporal_factor;
    const work = phaseWork(temporal, vae.chunk_latents * tf, h * w, o.latent.dims[1]);
    const zBytes = 4 * o.latent.dims[0] * o.latent.dims[1] * o.frames * h * w;
    const decoded = await runPhase(o, temporal, chunks, "z_frames", plans, work, 3 * zBytes);
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
  const output = spatial[spatial.length - 1].outputs[0].name;
  const [B, , F, h, w] = frames.dims;
  // The decoded video twice (micro-batches and their concatenation) and the writer's 8-bit frames.
  const video = 4 * B * 3 * F * h * w * vae.spatial_factor * vae.spatial_factor;
  const pixels = await runSpatial(o, spatial, frames, output, plans, 2 * video + video / 4);
  return { video: pixels.length === 1 ? pixels[0] : concat(pixels, 2), plans };
}
