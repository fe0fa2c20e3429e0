import assert from "node:assert/strict";
import { frameAt, framesFromVideo, toByte } from "./frames.ts";

Deno.test("toByte() follows save_sample: clamp, (x+1)/2*255+0.5, truncate", () => {
  assert.equal(toByte(-1), 0);
  assert.equal(toByte(-5), 0);
  assert.equal(toByte(1), 255);
  assert.equal(toByte(7), 255);
  assert.equal(toByte(0), 128); // 127.5 + 0.5
  assert.equal(toByte(NaN), 0);
  // Agrees with the float64 formula to within one step of rounding everywhere on a fine grid.
  for (let i = 0; i < 1000; i++) {
    const x = -1 + i / 499.5;
    const ref = Math.trunc(Math.min(255, Math.max(0, ((Math.max(-1, Math.min(1, x)) + 1) / 2) * 255 + 0.5)));
    assert.ok(Math.abs(toByte(x) - ref) <= 1, `x=${x}`);
  }
});

Deno.test("framesFromVideo() packs [B,3,F,H,W] into [F,H,W,3] bytes for one sample", () => {
  const [B, F, H, W] = [2, 3, 2, 4];
  const data = new Float32Array(B * 3 * F * H * W);
  // value encodes (b, c, t, y, x) so each byte can be checked
  const val = (b: number, c: number, t: number, y: number, x: number) =>
    -1 + (((b * 7 + c * 5 + t * 3 + y * 2 + x) % 17) / 16) * 2;
  let i = 0;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < 3; c++) {
      for (let t = 0; t < F; t++) {
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[i++] = val(b, c, t, y, x);
      }
    }
  }
  const video = { dtype: "float32" as const, dims: [B, 3, F, H, W], data };
  const frames = framesFromVideo(video, 1);
  assert.deepEqual([frames.count, frames.height, frames.width], [F, H, W]);
  for (let t = 0; t < F; t++) {
    const img = frameAt(frames, t);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < 3; c++) assert.equal(img[(y * W + x) * 3 + c], toByte(val(1, c, t, y, x)));
      }
    }
  }
  assert.throws(() => framesFromVideo(video, 2), /Cannot save sample "2"/);
  assert.throws(
    () => framesFromVideo({ dtype: "float32", dims: [1, 4, 1, 1, 1], data: new Float32Array(4) }, 0),
    /Cannot save video: expected dims/,
  );
});
