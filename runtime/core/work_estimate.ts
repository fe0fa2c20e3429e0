/**
 * Working memory of one denoiser block call, estimated from the activations it holds, so that memory
 * schedulers plan weights **and** inference memory against a budget (a 256×256, 68-frame Open-Sora v1.2 run
 * needs about a gigabyte per block call next to the block's weights).
 *
 * An STDiT3 block (spatial or temporal) on a latent [B, C, T, h, w] patched by (pt, ph, pw) holds, in
 * float32: the tokens N = T'·S (S = h/ph · w/pw tokens a frame) times the hidden size C for the residual,
 * the norms, q/k/v and the attention output (≈ 6·N·C) and the MLP's 4·C hidden (4·N·C); the attention
 * scores of spatial self-attention (heads·T'·S²), temporal self-attention (heads·S·T'²) and
 * cross-attention to L text tokens (heads·N·L). onnxruntime keeps temporaries beside them: the total is
 * doubled. The bench's probe (bench/_work_probe.ts) measures the real peak from a trimmed heap; on STDiT3-XL
 * with 20 text tokens it reads a median 34–44 MiB (most 62–71) at [2, 4, 10, 8, 8] against this estimate's
 * 41 MiB, and 141–147 MiB (most 171–180) at [2, 4, 10, 16, 16] against 171 MiB.
 *
 * @module
 */
import type { DenoiserStage } from "./manifest.ts";

/** The shapes of one denoiser call. */
export interface DenoiserCallShape {
  /** Model batch: prompts × 2 with classifier-free guidance. */
  batch: number;
  /** Latent frames, height and width. */
  t: number;
  h: number;
  w: number;
  /** Text tokens the cross-attention sees (the padded length). */
  textLength: number;
}

/** ONNX Runtime's temporaries next to the live activations (the doubling above). */
const RUNTIME_FACTOR = 2;

/**
 * Estimated working memory of one denoiser block call, bytes.
 *
 * @example
 * ```ts
 * import { denoiserWorkBytes } from "./work_estimate.ts";
 * const spec = { hidden_size: 1152, num_heads: 16, patch_size: [1, 2, 2] } as const;
 * const bytes = denoiserWorkBytes(spec, { batch: 2, t: 10, h: 8, w: 8, textLength: 300 });
 * console.assert(bytes > 30 * 2 ** 20 && bytes < 60 * 2 ** 20);
 * ```
 */
export function denoiserWorkBytes(
  spec: Pick<DenoiserStage, "hidden_size" | "num_heads" | "patch_size">,
  shape: DenoiserCallShape,
): number {
  const [pt, ph, pw] = spec.patch_size;
  const frames = Math.ceil(shape.t / pt);
  const perFrame = Math.ceil(shape.h / ph) * Math.ceil(shape.w / pw);
  const tokens = frames * perFrame;
  const hidden = tokens * spec.hidden_size * 10;
  const scores = spec.num_heads *
    (frames * perFrame * perFrame + perFrame * frames * frames + tokens * shape.textLength);
  return Math.ceil(4 * RUNTIME_FACTOR * shape.batch * (hidden + scores));
}

/**
 * Estimated working memory of one text-encoder block call (T5 v1.1: a layer holds the hidden state, its
 * norm, q/k/v and the attention output ≈ 6·Cc, the gated feed-forward's two d_ff ≈ 2.5·Cc projections and
 * their product ≈ 7.5·Cc, per token; the scores and softmax of `heads` heads, and the position bias,
 * ≈ 3·heads·L² per prompt), doubled for onnxruntime's temporaries like the denoiser's. The embedding
 * lookup's output is the hidden state plus the bias: inside the same bound.
 *
 * @example
 * ```ts
 * import { textWorkBytes } from "./work_estimate.ts";
 * textWorkBytes({ prompts: 1, tokens: 64, channels: 512, heads: 4 }); // about 3.8 MB
 * ```
 */
export function textWorkBytes(
  shape: { prompts: number; tokens: number; channels: number; heads: number },
): number {
  const { prompts, tokens, channels, heads } = shape;
  return Math.ceil(4 * RUNTIME_FACTOR * prompts * tokens * (13.5 * channels + 3 * heads * tokens));
}

/**
 * Estimated working memory of one VAE decoder block call on `frames` frames: a convolutional decoder of
 * `params` parameters is taken to run `width = sqrt(params / 72)` channels (eight 3×3 layers of that width)
 * at the larger of its input and output resolutions, with three such activations live (input, output, a
 * residual), doubled for onnxruntime's temporaries. Frames of a spatial micro-batch are independent, so
 * the estimate is linear in `frames`; the run measures the first call and re-plans the micro-batch when
 * the estimate was short (runtime/pipeline/vae_stage.ts). Measured here on the `tiny` VAE (the default model's and
 * the random `mid` bundle's) at 64×64, 17 frames, micro-batches of 4: the spatial plan says 36.9 MiB, the
 * VAE stage's measured peak over its start is 18–22 MiB (the run report's `memory.run.stages`): an upper
 * bound in those runs.
 *
 * @example
 * ```ts
 * import { vaeWorkBytes } from "./work_estimate.ts";
 * vaeWorkBytes({ params: 40943, frames: 4, pixels: 64 * 64, channels: 4 }) > 0; // true
 * ```
 */
export function vaeWorkBytes(
  shape: { params: number; frames: number; pixels: number; channels: number },
): number {
  const width = Math.max(shape.channels, Math.sqrt(shape.params / 72));
  return Math.ceil(4 * RUNTIME_FACTOR * 3 * shape.frames * shape.pixels * width);
}
