/**
 * The bench's denoiser bundle and inputs: a bundle (optionally cut to its first N spatial/temporal pairs,
 * same width, for quick runs) and seeded inputs at a small latent size.
 *
 * @module
 */
import { type Bundle, nullCaption, stageOf } from "../runtime/bundle/bundle.ts";
import { gaussianNoise } from "../runtime/core/rng.ts";
import { tensor } from "../runtime/core/tensor.ts";
import { rflowTimesteps } from "../runtime/core/timesteps.ts";
import type { DenoiseInputs } from "./_speed_row.ts";

/** The latent size and schedule of the speed rows. */
export interface BenchShape {
  /** Latent frames, height, width. */
  t: number;
  h: number;
  w: number;
  /** Video frames the latent stands for (the timestep shift uses it). */
  frames: number;
  steps: number;
  /** Text tokens given to the model (the rest of the padded length is masked out). */
  tokens: number;
}

/** The bundle with only its first `pairs` spatial/temporal block pairs (embed and final kept). */
export function firstPairs(bundle: Bundle, pairs: number | null): Bundle {
  if (pairs === null) return bundle;
  const spec = stageOf(bundle, "denoiser");
  const keep = new Set(Array.from({ length: pairs }, (_, i) => String(i).padStart(2, "0")));
  const blocks = spec.blocks.filter((b) => {
    const m = /^(spatial|temporal)_(\d+)$/.exec(b.name);
    return !m || keep.has(m[2]);
  });
  return { ...bundle, denoiser: { ...spec, depth: pairs, blocks } };
}

/** Seeded inputs for the speed rows: noise, random text embeddings (scaled like T5's), the null caption. */
export async function benchInputs(bundle: Bundle, shape: BenchShape): Promise<DenoiseInputs> {
  const spec = stageOf(bundle, "denoiser") as ReturnType<typeof stageOf<"denoiser">> & {
    caption_channels?: number;
    model_max_length?: number;
  };
  let yNull = await nullCaption(bundle).catch(() => null);
  const length = yNull?.dims[0] ?? spec.model_max_length ?? 300;
  const channels = yNull?.dims[1] ?? spec.caption_channels ?? 4096;
  yNull ??= scaled(gaussianNoise([length, channels], 3), 0.1);
  const mask = new BigInt64Array(length).map((_, i) => (i < shape.tokens ? 1n : 0n));
  return {
    noise: gaussianNoise([1, spec.in_channels, shape.t, shape.h, shape.w], 1),
    y: scaled(gaussianNoise([1, length, channels], 2), 0.1),
    yMask: tensor("int64", [1, length], mask),
    yNull,
    timesteps: rflowTimesteps({
      steps: shape.steps,
      height: shape.h * 8,
      width: shape.w * 8,
      frames: shape.frames,
    }),
    fps: 24,
    height: shape.h * 8,
    width: shape.w * 8,
    cfgScale: 7,
  };
}

function scaled(t: { dims: readonly number[]; data: Float32Array }, s: number) {
  return tensor("float32", t.dims, t.data.map((v) => v * s));
}
