/**
 * Cheap previews during denoising: the bundle's linear latent → RGB map (`bundle.json` "preview", fitted
 * by least squares at export time) applied to one latent frame of the predicted clean latent
 * x̂₀ = x + v·t/1000 (where a leap from this step would land), upscaled bilinearly to the video's pixel
 * size, as a `preview` run event with PNG bytes. An observer: it only reads the model's inputs and outputs.
 *
 * @module
 */
import { encodePng } from "./png.ts";
import { addScaled } from "../core/tensor.ts";
import type { Emit, ModelFn, RunEvent, Sampler, Tensor } from "../core/types.ts";

/** The bundle's projection: `weight[c]` is the [r, g, b] contribution of latent channel c; RGB in [−1, 1]. */
export interface PreviewProjection {
  weight: number[][];
  bias: number[];
}

/** Options of {@link projectLatentFrame}. */
export interface ProjectOptions {
  /** Latent frame to show (default 0). */
  frame?: number;
  /** Integer upscale factor, e.g. the VAE's spatial factor (default 1). */
  scale?: number;
}

const toByte = (v: number) => Math.min(255, Math.max(0, Math.round(((v + 1) / 2) * 255)));

/**
 * Packed RGB bytes [height, width, 3] of latent frame `frame` of sample 0 of `latent` [n, C, T, H, W]
 * (or [n, C, H, W]), projected by `projection` and upscaled bilinearly by `scale`.
 *
 * @example
 * ```ts
 * import { projectLatentFrame } from "./preview.ts";
 * const latent = { dtype: "float32" as const, dims: [1, 1, 1, 1, 1], data: new Float32Array([0.5]) };
 * projectLatentFrame(latent, { weight: [[2, 0, -2]], bias: [0, 0, 0] }).rgb; // Uint8Array [255, 128, 0]
 * ```
 */
export function projectLatentFrame(
  latent: Tensor<"float32">,
  projection: PreviewProjection,
  options: ProjectOptions = {},
): { width: number; height: number; rgb: Uint8Array } {
  const dims = latent.dims.length === 4
    ? [latent.dims[0], latent.dims[1], 1, latent.dims[2], latent.dims[3]]
    : latent.dims;
  if (dims.length !== 5) {
    throw new RangeError(
      `Cannot preview latent: dims '${JSON.stringify(latent.dims)}' are not [n, C, T, H, W]`,
    );
  }
  const [, C, T, H, W] = dims;
  const { frame = 0, scale = 1 } = options;
  if (
    projection.weight.length !== C || projection.weight.some((row) => row.length !== 3) ||
    projection.bias.length !== 3
  ) {
    throw new RangeError(
      `Cannot preview latent: the projection is not [${C}][3] + [3] for '${C}' latent channels`,
    );
  }
  if (!Number.isInteger(frame) || frame < 0 || frame >= T) {
    throw new RangeError(`Cannot preview latent: frame '${frame}' is not in [0, ${T})`);
  }
  if (!Number.isInteger(scale) || scale < 1) {
    throw new RangeError(`Cannot preview latent: scale '${scale}' is not a positive integer`);
  }
  const plane = H * W;
  const small = new Float32Array(plane * 3);
  for (let k = 0; k < 3; k++) small.fill(projection.bias[k], k * plane, (k + 1) * plane);
  for (let c = 0; c < C; c++) {
    const base = (c * T + frame) * plane;
    for (let k = 0; k < 3; k++) {
      const w = projection.weight[c][k];
      for (let i = 0; i < plane; i++) small[k * plane + i] += w * latent.data[base + i];
    }
  }
  const width = W * scale;
  const height = H * scale;
  const rgb = new Uint8Array(width * height * 3);
  // bilinear, pixel centres aligned (as torch's interpolate with align_corners=False)
  const source = (d: number, n: number) => {
    const s = Math.min(n - 1, Math.max(0, (d + 0.5) / scale - 0.5));
    const i0 = Math.floor(s);
    return [i0, Math.min(n - 1, i0 + 1), s - i0] as const;
  };
  const x0s = new Int32Array(width), x1s = new Int32Array(width), fxs = new Float32Array(width);
  for (let x = 0; x < width; x++) [x0s[x], x1s[x], fxs[x]] = source(x, W);
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = source(y, H);
    for (let k = 0; k < 3; k++) {
      const top = k * plane + y0 * W, bottom = k * plane + y1 * W;
      for (let x = 0; x < width; x++) {
        const fx = fxs[x];
        const a = small[top + x0s[x]] * (1 - fx) + small[top + x1s[x]] * fx;
        const b = small[bottom + x0s[x]] * (1 - fx) + small[bottom + x1s[x]] * fx;
        rgb[(y * width + x) * 3 + k] = toByte(a * (1 - fy) + b * fy);
      }
    }
  }
  return { width, height, rgb };
}

/**
 * The `preview` event for `latent` after model call `step`: {@link projectLatentFrame} as PNG bytes.
 *
 * @example
 * ```ts
 * import { previewEvent } from "./preview.ts";
 * const latent = { dtype: "float32" as const, dims: [1, 1, 1, 2, 2], data: new Float32Array([0, 1, -1, 0]) };
 * const event = previewEvent(latent, { weight: [[1, 1, 1]], bias: [0, 0, 0] }, 3, { scale: 8 });
 * event.width; // 16
 * ```
 */
export function previewEvent(
  latent: Tensor<"float32">,
  projection: PreviewProjection,
  step: number,
  options: ProjectOptions = {},
): Extract<RunEvent, { type: "preview" }> {
  const { width, height, rgb } = projectLatentFrame(latent, projection, options);
  return { type: "preview", step, width, height, png: encodePng(rgb, width, height) };
}

/**
 * `sampler` unchanged, except that after every `every`-th model call it emits a {@link previewEvent} of the
 * predicted clean latent x + v·t/1000 (middle latent frame unless `frame` is given), upscaled by `scale`
 * but to at most `maxSide` pixels (default 256; about 17 ms a preview at 240p here, 150 ms at full size).
 *
 * @example
 * ```ts ignore
 * const observed = withPreview(sampler, bundle.preview, emit, { scale: bundle.vae.spatial_factor });
 * ```
 */
export function withPreview(
  sampler: Sampler,
  projection: PreviewProjection,
  emit: Emit,
  options: ProjectOptions & { every?: number; maxSide?: number } = {},
): Sampler {
  const every = options.every ?? 1;
  // the page scales the image further; past ~256 px the PNG encoding starts to cost real time
  const maxSide = options.maxSide ?? 256;
  return {
    name: sampler.name,
    kind: "sampler",
    sample(model, x, ctx) {
      const observed: ModelFn = async (xt, t, step, callOptions) => {
        const v = await model(xt, t, step, callOptions);
        if (step % every === 0) {
          const frame = options.frame ?? (xt.dims.length === 5 ? Math.floor(xt.dims[2] / 2) : 0);
          const side = Math.max(xt.dims[xt.dims.length - 2], xt.dims[xt.dims.length - 1]);
          const scale = Math.min(options.scale ?? 1, Math.max(1, Math.floor(maxSide / side)));
          emit(previewEvent(addScaled(xt, v, t / 1000), projection, step, { frame, scale }));
        }
        return v;
      };
      return sampler.sample(observed, x, ctx);
    },
  };
}
