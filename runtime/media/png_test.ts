import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32, encodePng, writePngFrames } from "./png.ts";
import { decodeToRgb } from "./ffmpeg.ts";

function pattern(width: number, height: number, seed: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + seed * 101 + ((i / 3) | 0) * 5) & 0xff;
  return rgb;
}

Deno.test("crc32() matches the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("encodePng() output decodes back (ffmpeg) to the same pixels", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [w, h] of [[1, 1], [7, 5], [64, 48]]) {
      const rgb = pattern(w, h, w);
      const path = join(dir, `p${w}.png`);
      await Deno.writeFile(path, encodePng(rgb, w, h));
      const back = await decodeToRgb(path);
      assert.deepEqual([back.width, back.height, back.frames.length], [w, h, 1]);
      assert.deepEqual(back.frames[0], rgb);
    }
    assert.throws(() => encodePng(new Uint8Array(5), 2, 2), /Cannot encode PNG: 5 bytes for a 2x2 RGB image/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writePngFrames() writes one PNG per frame into a folder, nothing else", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [w, h, n] = [6, 4, 3];
    const data = new Uint8Array(n * w * h * 3);
    for (let t = 0; t < n; t++) data.set(pattern(w, h, t), t * w * h * 3);
    const out = join(dir, "clip_png");
    await writePngFrames({ width: w, height: h, count: n, data }, out);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.deepEqual(names, ["frame_0000.png", "frame_0001.png", "frame_0002.png"]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["clip_png"]);
    for (let t = 0; t < n; t++) {
      assert.deepEqual((await decodeToRgb(join(out, names[t]))).frames[0], pattern(w, h, t));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
