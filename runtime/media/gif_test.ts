import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeGif, writeGif } from "./gif.ts";
import { decodeToRgb } from "./ffmpeg.ts";
import type { Frames } from "./frames.ts";

function clip(
  width: number,
  height: number,
  count: number,
  pixel: (t: number, y: number, x: number) => number[],
) {
  const data = new Uint8Array(count * width * height * 3);
  let i = 0;
  for (let t = 0; t < count; t++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) for (const v of pixel(t, y, x)) data[i++] = v;
    }
  }
  return { width, height, count, data } satisfies Frames;
}

function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 10 * Math.log10((255 * 255) / (se / a.length));
}

Deno.test("encodeGif() round-trips a flat-colour animation exactly (ffmpeg decode)", async () => {
  const colours = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [128, 64, 32]];
  // a square that moves right by 2 pixels a frame over a background that changes colour every frame
  const frames = clip(
    20,
    12,
    5,
    (t, y, x) => x >= 2 * t && x < 2 * t + 6 && y >= 3 && y < 9 ? colours[1 + (t % 5)] : colours[(t * 2) % 6],
  );
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.gif");
    await writeGif(frames, 24, path);
    const bytes = await Deno.readFile(path);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 6)), "GIF89a");
    const back = await decodeToRgb(path);
    assert.deepEqual([back.width, back.height, back.frames.length], [20, 12, 5]);
    const size = 20 * 12 * 3;
    for (let t = 0; t < 5; t++) {
      assert.deepEqual(back.frames[t], frames.data.subarray(t * size, (t + 1) * size));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeGif() keeps a smooth gradient clip close to the original (PSNR > 28 dB)", async () => {
  const frames = clip(48, 32, 4, (t, y, x) => [x * 5, y * 7, (t * 60 + x + y) & 255]);
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "g.gif");
    await Deno.writeFile(path, encodeGif(frames, 8));
    const back = await decodeToRgb(path);
    const size = 48 * 32 * 3;
    for (let t = 0; t < 4; t++) {
      const p = psnr(back.frames[t], frames.data.subarray(t * size, (t + 1) * size));
      assert.ok(p > 28, `frame ${t}: PSNR ${p.toFixed(1)} dB`);
    }
    assert.throws(
      () => encodeGif({ width: 1, height: 1, count: 0, data: new Uint8Array(0) }, 8),
      /no frames/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
