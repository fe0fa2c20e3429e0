import assert from "node:assert/strict";
import { join } from "node:path";
import { writeMp4 } from "./video.ts";
import { decodeToRgb, runFfmpeg } from "./ffmpeg.ts";

function movingSquare(width: number, height: number, count: number) {
  const data = new Uint8Array(count * width * height * 3);
  for (let t = 0; t < count; t++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = ((t * height + y) * width + x) * 3;
        const inside = x >= 2 * t && x < 2 * t + 10 && y >= 8 && y < 18;
        data.set(inside ? [230, 40, 40] : [20, 20, 60 + 4 * t], i);
      }
    }
  }
  return { width, height, count, data };
}

/** The top-level box types of an ISO-BMFF (MP4) file, and the codec sample entry name inside it. */
function boxes(bytes: Uint8Array): { top: string[]; hasAvc1: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const top: string[] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    const size = view.getUint32(at);
    top.push(new TextDecoder().decode(bytes.subarray(at + 4, at + 8)));
    if (size < 8) break;
    at += size;
  }
  const text = new TextDecoder("latin1").decode(bytes);
  return { top, hasAvc1: text.includes("avc1") && text.includes("avcC") };
}

Deno.test("writeMp4() writes a browser-playable H.264 MP4 that decodes back to the frames", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clip = movingSquare(40, 24, 9);
    const path = join(dir, "clip.mp4");
    await writeMp4(clip, 24, path);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["clip.mp4"]);
    const { top, hasAvc1 } = boxes(await Deno.readFile(path));
    assert.deepEqual(top.slice(0, 2), ["ftyp", "moov"], "faststart: moov before mdat");
    assert.ok(top.includes("mdat"));
    assert.ok(hasAvc1, "H.264 sample entry (avc1/avcC)");
    const back = await decodeToRgb(path);
    assert.deepEqual([back.width, back.height, back.frames.length], [40, 24, 9]);
    const size = 40 * 24 * 3;
    for (let t = 0; t < 9; t++) {
      let se = 0;
      const ref = clip.data.subarray(t * size, (t + 1) * size);
      for (let i = 0; i < size; i++) se += (ref[i] - back.frames[t][i]) ** 2;
      const psnr = 10 * Math.log10(255 ** 2 / (se / size));
      assert.ok(psnr > 30, `frame ${t}: PSNR ${psnr.toFixed(1)} dB`);
    }
    // codec, pixel format, size and frame rate as a player sees them (ffmpeg's stream summary)
    const probe = await runFfmpeg(["-loglevel", "info", "-i", path]);
    assert.match(probe.stderr, /Video: h264 \(\w+\) \(avc1 \/ 0x31637661\), yuv420p[^,]*, 40x24/);
    assert.match(probe.stderr, /, 24 fps,/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeMp4() pads odd sizes and leaves nothing behind when it fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const odd = movingSquare(15, 9, 2);
    await writeMp4(odd, 12, join(dir, "odd.mp4"));
    const back = await decodeToRgb(join(dir, "odd.mp4"));
    assert.deepEqual([back.width, back.height], [16, 10]);
    await assert.rejects(() => writeMp4(odd, 12, join(dir, "missing", "x.mp4")), /Cannot encode MP4/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["odd.mp4"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
