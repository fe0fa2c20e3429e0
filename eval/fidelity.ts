/**
 * Fidelity of a clip to a reference clip of the same prompt and seed (the `default` variant's): SSIM and
 * PSNR on the 8-bit frames, as the bench's quality rows measure decoded videos (bench/quality.ts).
 *
 * @module
 */
import { PSNR_IDENTICAL, ssimPlane } from "../bench/quality.ts";
import type { Frames } from "../runtime/media/frames.ts";

function sameShape(a: Frames, b: Frames): void {
  if (a.width !== b.width || a.height !== b.height || a.count !== b.count) {
    throw new RangeError(
      `Cannot compare clips: ${a.count}x${a.height}x${a.width} vs ${b.count}x${b.height}x${b.width} frames`,
    );
  }
}

/** Mean SSIM over every frame and channel of `a` against `b` (8-bit frames of one size). */
export function clipSsim(a: Frames, b: Frames): number {
  sameShape(a, b);
  const { width: w, height: h, count } = a;
  const pa = new Float64Array(w * h), pb = new Float64Array(w * h);
  let sum = 0;
  for (let t = 0; t < count; t++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < w * h; p++) {
        const i = (t * w * h + p) * 3 + c;
        pa[p] = a.data[i], pb[p] = b.data[i];
      }
      sum += ssimPlane(pa, pb, h, w);
    }
  }
  return sum / (3 * count);
}

/** PSNR in dB of `a` against `b` (8-bit values); {@link PSNR_IDENTICAL} when they are equal. */
export function clipPsnr(a: Frames, b: Frames): number {
  sameShape(a, b);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (a.data[i] - b.data[i]) ** 2;
  const mse = se / a.data.length;
  return mse === 0 ? PSNR_IDENTICAL : Math.min(PSNR_IDENTICAL, 10 * Math.log10((255 * 255) / mse));
}
