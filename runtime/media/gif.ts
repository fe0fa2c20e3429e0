/**
 * Animated GIF output in pure JS (npm `gifenc`): one global 256-colour palette quantized from the whole
 * clip (so colours do not flicker between frames), frames mapped to it, looping forever.
 *
 * @module
 */
import gifenc from "gifenc";
import { writeFileAtomic } from "./atomic.ts";
import { frameAt, type Frames } from "./frames.ts";

// gifenc ships CommonJS whose named exports Deno cannot detect statically: take them off the module object.
const { applyPalette, GIFEncoder, quantize } = gifenc;

/** Pixels sampled from the clip to build the palette (a cap keeps quantization fast on long clips). */
const PALETTE_SAMPLE = 1 << 19;

function rgba(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    out[j] = rgb[i];
    out[j + 1] = rgb[i + 1];
    out[j + 2] = rgb[i + 2];
    out[j + 3] = 255;
  }
  return out;
}

function paletteSample(frames: Frames): Uint8Array {
  const pixels = frames.count * frames.width * frames.height;
  const stride = Math.max(1, Math.ceil(pixels / PALETTE_SAMPLE));
  const out = new Uint8Array(Math.ceil(pixels / stride) * 4);
  for (let p = 0, j = 0; p < pixels; p += stride, j += 4) {
    out.set(frames.data.subarray(p * 3, p * 3 + 3), j);
    out[j + 3] = 255;
  }
  return out;
}

/**
 * Encode a clip as an animated GIF at `fps` (GIF delays are in 1/100 s, so 24 fps plays at 25).
 *
 * @example
 * ```ts
 * import { encodeGif } from "./gif.ts";
 * const gif = encodeGif({ width: 2, height: 1, count: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]) }, 24);
 * new TextDecoder().decode(gif.subarray(0, 6)); // "GIF89a"
 * ```
 */
export function encodeGif(frames: Frames, fps: number): Uint8Array {
  if (frames.count < 1) throw new RangeError("Cannot encode GIF: the clip has no frames");
  // The palette is built over 12-bit colour bins (rgb444: fast, ~0.2 s for a 64×64×17 clip where rgb565
  // bins take ~2 s); pixels are then mapped to it at 16-bit precision (rgb565).
  const palette = quantize(paletteSample(frames), 256, { format: "rgb444" });
  const gif = GIFEncoder();
  const delay = Math.round(1000 / fps);
  for (let t = 0; t < frames.count; t++) {
    const index = applyPalette(rgba(frameAt(frames, t)), palette, "rgb565");
    gif.writeFrame(index, frames.width, frames.height, t === 0 ? { palette, delay, repeat: 0 } : { delay });
  }
  gif.finish();
  return gif.bytes();
}

/** Write a clip as an animated GIF file at `path` (atomically). */
export async function writeGif(frames: Frames, fps: number, path: string): Promise<void> {
  await writeFileAtomic(path, encodeGif(frames, fps));
}
