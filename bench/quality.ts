/**
 * Video quality against a reference video: SSIM (Wang et al. 2004: 11×11 Gaussian window, σ = 1.5,
 * K1 = 0.01, K2 = 0.03, on 8-bit values, valid region, averaged over every frame and channel) and PSNR
 * (8-bit, over all values). Both compare the bytes a saved video holds (runtime/media/frames.ts `toByte`).
 *
 * @module
 */
import { toByte } from "../runtime/media/frames.ts";
import type { Tensor } from "../runtime/core/types.ts";

/** PSNR reported for identical videos (JSON has no Infinity). */
export const PSNR_IDENTICAL = 100;

const L = 255;
const C1 = (0.01 * L) ** 2;
const C2 = (0.03 * L) ** 2;

function checkSame(a: Tensor<"float32">, b: Tensor<"float32">): void {
  if (a.dims.length !== 5 || a.dims.some((d, i) => d !== b.dims[i])) {
    throw new RangeError(
      `Cannot compare videos: dims '${JSON.stringify(a.dims)}' vs '${
        JSON.stringify(b.dims)
      }' (need equal [B, C, F, H, W])`,
    );
  }
}

function gaussian(size: number, sigma: number): Float64Array {
  const w = new Float64Array(size);
  const c = (size - 1) / 2;
  for (let i = 0; i < size; i++) w[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}

/** Valid-region separable filtering of an h×w plane with window `g`. */
function filter(plane: Float64Array, h: number, w: number, g: Float64Array): Float64Array {
  const k = g.length;
  const ow = w - k + 1;
  const oh = h - k + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += g[i] * plane[y * w + x + i];
      rows[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += g[i] * rows[(y + i) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
}

/**
 * SSIM of two 8-bit planes (values 0..255, row-major h×w). The window shrinks to the largest odd size
 * that fits planes smaller than 11 pixels (σ scaled with it).
 *
 * @example
 * ```ts
 * ssimPlane(new Float64Array(16).fill(9), new Float64Array(16).fill(9), 4, 4); // 1
 * ```
 */
export function ssimPlane(a: Float64Array, b: Float64Array, h: number, w: number): number {
  const size = Math.min(11, h % 2 ? h : h - 1, w % 2 ? w : w - 1);
  const g = gaussian(size, (1.5 * size) / 11);
  const prod = (x: Float64Array, y: Float64Array) => x.map((v, i) => v * y[i]);
  const [mx, my] = [filter(a, h, w, g), filter(b, h, w, g)];
  const [xx, yy, xy] = [
    filter(prod(a, a), h, w, g),
    filter(prod(b, b), h, w, g),
    filter(prod(a, b), h, w, g),
  ];
  let sum = 0;
  for (let i = 0; i < mx.length; i++) {
    const vx = xx[i] - mx[i] * mx[i];
    const vy = yy[i] - my[i] * my[i];
    const cov = xy[i] - mx[i] * my[i];
    sum += ((2 * mx[i] * my[i] + C1) * (2 * cov + C2)) / ((mx[i] ** 2 + my[i] ** 2 + C1) * (vx + vy + C2));
  }
  return sum / mx.length;
}

/**
 * Mean SSIM of two decoded videos [B, C, F, H, W] (values about −1..1), over every sample, channel and frame.
 *
 * @example
 * ```ts
 * videoSsim(video, video); // 1
 * ```
 */
export function videoSsim(a: Tensor<"float32">, b: Tensor<"float32">): number {
  checkSame(a, b);
  const [, , , h, w] = a.dims;
  const plane = h * w;
  const planes = a.data.length / plane;
  let sum = 0;
  for (let p = 0; p < planes; p++) {
    const pa = Float64Array.from(a.data.subarray(p * plane, (p + 1) * plane), toByte);
    const pb = Float64Array.from(b.data.subarray(p * plane, (p + 1) * plane), toByte);
    sum += ssimPlane(pa, pb, h, w);
  }
  return sum / planes;
}

/**
 * PSNR in dB of video `a` against reference `b` (8-bit values); {@link PSNR_IDENTICAL} when they are equal.
 *
 * @example
 * ```ts
 * videoPsnr(video, video); // 100
 * ```
 */
export function videoPsnr(a: Tensor<"float32">, b: Tensor<"float32">): number {
  checkSame(a, b);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (toByte(a.data[i]) - toByte(b.data[i])) ** 2;
  const mse = se / a.data.length;
  return mse === 0 ? PSNR_IDENTICAL : Math.min(PSNR_IDENTICAL, 10 * Math.log10((L * L) / mse));
}
