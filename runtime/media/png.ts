/**
 * PNG encoding of 8-bit RGB images (pure TypeScript: chunk framing, CRC-32, per-row filter choice;
 * compression by node:zlib), and a clip's frames as a folder of PNG files.
 *
 * @module
 */
import { deflateSync } from "node:zlib";
import { join } from "node:path";
import { produceAtomic } from "./atomic.ts";
import { frameAt, type Frames } from "./frames.ts";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG chunks use it) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** Filtered scanlines: each row gets the filter (None, Sub or Up) with the smallest sum of |bytes|. */
function filterRows(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const stride = width * 3;
  const out = new Uint8Array(height * (stride + 1));
  const candidate = [new Uint8Array(stride), new Uint8Array(stride), new Uint8Array(stride)];
  for (let y = 0; y < height; y++) {
    const row = rgb.subarray(y * stride, (y + 1) * stride);
    const above = y > 0 ? rgb.subarray((y - 1) * stride, y * stride) : null;
    let best = 0, bestScore = Infinity;
    for (let type = 0; type < 3; type++) {
      const line = candidate[type];
      let score = 0;
      for (let i = 0; i < stride; i++) {
        const pred = type === 1 ? (i >= 3 ? row[i - 3] : 0) : type === 2 ? (above ? above[i] : 0) : 0;
        const v = (row[i] - pred) & 0xff;
        line[i] = v;
        score += v < 128 ? v : 256 - v;
      }
      if (score < bestScore) [best, bestScore] = [type, score];
    }
    out[y * (stride + 1)] = best;
    out.set(candidate[best], y * (stride + 1) + 1);
  }
  return out;
}

/**
 * Encode a packed RGB image ([height, width, 3] uint8) as a PNG file.
 *
 * @example
 * ```ts
 * import { encodePng } from "./png.ts";
 * const png = encodePng(new Uint8Array([255, 0, 0]), 1, 1);
 * png.subarray(1, 4); // "PNG"
 * ```
 */
export function encodePng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`Cannot encode PNG: ${rgb.length} bytes for a ${width}x${height} RGB image`);
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, deflate, adaptive filtering, no interlace
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(filterRows(rgb, width, height), { level: 9 }))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

/** Write every frame of a clip as `frame_0000.png`, ... into the folder `dir` (created atomically). */
export async function writePngFrames(frames: Frames, dir: string): Promise<void> {
  await produceAtomic(dir, async (temp) => {
    await Deno.mkdir(temp);
    for (let t = 0; t < frames.count; t++) {
      const name = `frame_${String(t).padStart(4, "0")}.png`;
      await Deno.writeFile(join(temp, name), encodePng(frameAt(frames, t), frames.width, frames.height));
    }
  });
}
