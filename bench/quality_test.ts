import assert from "node:assert/strict";
import { tensor } from "../runtime/core/tensor.ts";
import { PSNR_IDENTICAL, ssimPlane, videoPsnr, videoSsim } from "./quality.ts";

/** A [1, 3, 2, h, w] video whose values come from `f(c, t, y, x)` in −1..1. */
function video(h: number, w: number, f: (c: number, t: number, y: number, x: number) => number) {
  const data = new Float32Array(3 * 2 * h * w);
  let i = 0;
  for (let c = 0; c < 3; c++) {
    for (let t = 0; t < 2; t++) {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[i++] = f(c, t, y, x);
    }
  }
  return tensor("float32", [1, 3, 2, h, w], data);
}
const byteToValue = (b: number) => b / 127.5 - 1 + 1e-4; // maps back to exactly byte b under toByte

Deno.test("videoSsim() and videoPsnr() of a video with itself are 1 and the identical cap", () => {
  const v = video(16, 20, (c, t, y, x) => Math.sin(x * 0.7 + y * 0.3 + c + t));
  assert.equal(videoSsim(v, v), 1);
  assert.equal(videoPsnr(v, v), PSNR_IDENTICAL);
});

Deno.test("ssimPlane() of two flat planes is the luminance term (2ab + C1)/(a² + b² + C1)", () => {
  const [a, b] = [100, 140];
  const expected = (2 * a * b + 6.5025) / (a * a + b * b + 6.5025);
  const s = ssimPlane(new Float64Array(15 * 15).fill(a), new Float64Array(15 * 15).fill(b), 15, 15);
  assert.ok(Math.abs(s - expected) < 1e-12);
  // On video tensors (through the byte mapping) the same figure.
  const va = video(12, 12, () => byteToValue(a));
  const vb = video(12, 12, () => byteToValue(b));
  assert.ok(Math.abs(videoSsim(va, vb) - expected) < 1e-12);
});

Deno.test("ssimPlane() of a pattern and its negative is strongly negative; a small shift keeps it high", () => {
  const h = 24, w = 24;
  const pattern = Float64Array.from(
    { length: h * w },
    (_, i) => 128 + 100 * Math.sin((i % w) * 0.9) * Math.cos(Math.floor(i / w) * 0.5),
  );
  const negative = pattern.map((v) => 256 - v);
  assert.ok(ssimPlane(pattern, negative, h, w) < -0.9);
  const brighter = pattern.map((v) => v + 3);
  const s = ssimPlane(pattern, brighter, h, w);
  assert.ok(s > 0.99 && s < 1);
});

Deno.test("videoPsnr() is 10·log10(255²/MSE) on the bytes", () => {
  const a = video(8, 8, () => byteToValue(100));
  const b = video(8, 8, (_c, _t, y) => byteToValue(y % 2 ? 104 : 100)); // half the values off by 4: MSE 8
  assert.ok(Math.abs(videoPsnr(b, a) - 10 * Math.log10((255 * 255) / 8)) < 1e-9);
});

Deno.test("quality metrics refuse videos of different shapes", () => {
  assert.throws(() => videoSsim(video(8, 8, () => 0), video(8, 9, () => 0)), /Cannot compare videos/);
});

Deno.test("ssimPlane() equals a torch conv2d SSIM (11×11 Gaussian, σ 1.5, valid) on a textured pair", async () => {
  const { py } = await import("../tests/_bundles.ts");
  const h = 20, w = 17;
  const a = Array.from({ length: h * w }, (_, i) => Math.floor(128 + 120 * Math.sin(i * 0.37)));
  const b = Array.from(
    { length: h * w },
    (_, i) => Math.floor(128 + 110 * Math.sin(i * 0.37 + 0.3) + 10 * Math.cos(i)),
  );
  const script = `
import json, sys, torch
d = json.loads(sys.argv[1]); h, w = d["h"], d["w"]
a = torch.tensor(d["a"], dtype=torch.float64).reshape(1, 1, h, w)
b = torch.tensor(d["b"], dtype=torch.float64).reshape(1, 1, h, w)
x = torch.arange(11, dtype=torch.float64) - 5
g = torch.exp(-x**2 / (2 * 1.5**2)); g /= g.sum(); k = (g[:, None] * g[None, :])[None, None]
f = lambda t: torch.nn.functional.conv2d(t, k)
C1, C2 = (0.01 * 255)**2, (0.03 * 255)**2
mx, my = f(a), f(b); vx = f(a * a) - mx**2; vy = f(b * b) - my**2; c = f(a * b) - mx * my
print(((2 * mx * my + C1) * (2 * c + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))).mean().item())`;
  const expected = Number(await py(["-c", script, JSON.stringify({ a, b, h, w })]));
  assert.ok(Math.abs(ssimPlane(Float64Array.from(a), Float64Array.from(b), h, w) - expected) < 1e-12);
});
