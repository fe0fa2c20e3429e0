/**
 * Decoded video tensors to 8-bit RGB frames, exactly as Open-Sora's `save_sample` does it: clamp to
 * [−1, 1], (x + 1) / 2, · 255 + 0.5, clamp to [0, 255], truncate to uint8, channels last. Each step is
 * rounded to float32 (Open-Sora does this arithmetic in bf16; our decoder output is float32).
 *
 * @module
 */
import type { Tensor } from "../core/types.ts";

/** A clip of packed RGB frames (`data` is [count, height, width, 3] uint8). */
export interface Frames {
  width: number;
  height: number;
  count: number;
  data: Uint8Array;
}

const f = Math.fround;

/** One decoded value in [about −1, 1] to a byte, by the `save_sample` rule. */
export function toByte(x: number): number {
  if (Number.isNaN(x)) return 0; // torch's uint8 cast of NaN is undefined; 0 is what x86 gives
  let v = Math.min(1, Math.max(-1, f(x)));
  v = f(f(v + 1) / 2);
  v = f(f(v * 255) + 0.5);
  v = Math.min(255, Math.max(0, v));
  return Math.trunc(v);
}

/**
 * Sample `index` of a decoded video [B, 3, F, H, W] as uint8 frames.
 *
 * @example
 * ```ts
 * import { framesFromVideo } from "./frames.ts";
 * const video = { dtype: "float32" as const, dims: [1, 3, 1, 1, 2], data: new Float32Array([-1, 1, 0, 0, 1, -1]) };
 * framesFromVideo(video, 0).data; // Uint8Array [0, 128, 255, 255, 128, 0]
 * ```
 */
export function framesFromVideo(video: Tensor<"float32">, index: number): Frames {
  const [b, c, count, height, width] = video.dims;
  if (video.dims.length !== 5 || c !== 3) {
    throw new RangeError(`Cannot save video: expected dims [B, 3, F, H, W], got [${video.dims.join(", ")}]`);
  }
  if (index < 0 || index >= b) throw new RangeError(`Cannot save sample "${index}": the batch has ${b}`);
  const plane = height * width;
  const data = new Uint8Array(count * plane * 3);
  for (let ch = 0; ch < 3; ch++) {
    const src = ((index * 3 + ch) * count) * plane;
    for (let t = 0; t < count; t++) {
      for (let p = 0; p < plane; p++) {
        data[(t * plane + p) * 3 + ch] = toByte(video.data[src + t * plane + p]);
      }
    }
  }
  return { width, height, count, data };
}

/** Frame `t` of a clip as its own packed RGB image (a view, no copy). */
export function frameAt(frames: Frames, t: number): Uint8Array {
  const size = frames.width * frames.height * 3;
  return frames.data.subarray(t * size, (t + 1) * size);
}
