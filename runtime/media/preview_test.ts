import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeToRgb } from "./ffmpeg.ts";
import { previewEvent, projectLatentFrame, withPreview } from "./preview.ts";
import type { RunEvent, Tensor } from "../core/types.ts";
import { instantiate } from "../core/registry.ts";

const latent = (dims: number[], values: number[]): Tensor<"float32"> => ({
  dtype: "float32",
  dims,
  data: new Float32Array(values),
});
const byte = (v: number) => Math.min(255, Math.max(0, Math.round(((v + 1) / 2) * 255)));

Deno.test("projectLatentFrame() applies weight and bias per pixel of the chosen frame", () => {
  // [1, C=2, T=2, H=1, W=2]: channel 0 frames (a, b), channel 1 frames (c, d)
  const x = latent([1, 2, 2, 1, 2], [0.1, 0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8]);
  const projection = { weight: [[1, 0.5, -1], [0.25, -1, 2]], bias: [0.1, -0.2, 0] };
  const { width, height, rgb } = projectLatentFrame(x, projection, { frame: 1 });
  assert.deepEqual([width, height], [2, 1]);
  const pixel = (z0: number, z1: number) =>
    [0, 1, 2].map((k) =>
      byte(projection.bias[k] + projection.weight[0][k] * z0 + projection.weight[1][k] * z1)
    );
  assert.deepEqual([...rgb], [...pixel(0.3, 0.7), ...pixel(0.4, -0.8)]);
});

Deno.test("projectLatentFrame() upscales bilinearly with pixel centres aligned", () => {
  const x = latent([1, 1, 1, 1, 2], [-1, 1]);
  const { width, height, rgb } = projectLatentFrame(x, { weight: [[1, 1, 1]], bias: [0, 0, 0] }, {
    scale: 2,
  });
  assert.deepEqual([width, height], [4, 2]);
  const row = [-1, -0.5, 0.5, 1].flatMap((v) => [byte(v), byte(v), byte(v)]);
  assert.deepEqual([...rgb], [...row, ...row]);
});

Deno.test("previewEvent() encodes a PNG that decodes to the projected pixels", async () => {
  const values = Array.from({ length: 4 * 3 * 5 }, (_, i) => Math.sin(i * 1.7));
  const x = latent([1, 4, 1, 3, 5], values);
  const projection = {
    weight: [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.2, 0.2, 0.2]],
    bias: [0, 0.1, -0.1],
  };
  const event = previewEvent(x, projection, 7, { scale: 4 });
  assert.deepEqual([event.type, event.step, event.width, event.height], ["preview", 7, 20, 12]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "p.png"), event.png);
    const decoded = await decodeToRgb(join(dir, "p.png"));
    assert.deepEqual([decoded.width, decoded.height, decoded.frames.length], [20, 12, 1]);
    assert.deepEqual([...decoded.frames[0]], [...projectLatentFrame(x, projection, { scale: 4 }).rgb]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("projectLatentFrame() refuses a projection of the wrong shape and a missing frame", () => {
  const x = latent([1, 2, 1, 1, 1], [0, 0]);
  assert.throws(
    () => projectLatentFrame(x, { weight: [[1, 1, 1]], bias: [0, 0, 0] }),
    {
      name: "RangeError",
      message: "Cannot preview latent: the projection is not [2][3] + [3] for '2' latent channels",
    },
  );
  assert.throws(
    () => projectLatentFrame(x, { weight: [[1, 1, 1], [1, 1, 1]], bias: [0, 0, 0] }, { frame: 1 }),
    { name: "RangeError", message: "Cannot preview latent: frame '1' is not in [0, 1)" },
  );
});

Deno.test("withPreview() emits the predicted clean latent of every `every`-th call and keeps the result", async () => {
  const { euler } = await import("../../samplers/euler.ts");
  const { addScaled } = await import("../core/tensor.ts");
  const sampler = instantiate(euler, {});
  // a constant velocity: every step predicts the same clean latent x0 + V·t0/1000
  const x0 = latent([1, 2, 3, 2, 2], Array.from({ length: 24 }, (_, i) => Math.cos(i)));
  const V = latent([1, 2, 3, 2, 2], Array.from({ length: 24 }, (_, i) => 0.3 * Math.sin(i * 2.1)));
  const model = (_x: Tensor<"float32">) => Promise.resolve(V);
  const timesteps = [1000, 800, 600, 400, 200];
  const ctx = { timesteps, onDecision() {} };
  const projection = { weight: [[0.7, 0.1, 0], [0, 0.4, 0.9]], bias: [0, 0, 0.05] };
  const events: RunEvent[] = [];
  const observed = withPreview(sampler, projection, (e) => events.push(e), { every: 2, scale: 2 });
  const out = await observed.sample(model, x0, ctx);
  assert.deepEqual([...out.data], [...(await sampler.sample(model, x0, ctx)).data]);
  assert.equal(observed.name, "euler");
  const previews = events.filter((e) => e.type === "preview");
  assert.deepEqual(previews.map((e) => e.step), [0, 2, 4]);
  const expected = previewEvent(addScaled(x0, V, 1), projection, 0, { scale: 2, frame: 1 });
  for (const p of previews) {
    assert.deepEqual([p.width, p.height], [4, 4]);
    assert.deepEqual([...p.png], [...expected.png]);
  }
});

Deno.test("withPreview() caps the upscale so the longer side stays within maxSide", async () => {
  const { euler } = await import("../../samplers/euler.ts");
  const sampler = instantiate(euler, {});
  const x0 = latent([1, 1, 1, 40, 30], Array.from({ length: 1200 }, (_, i) => Math.sin(i)));
  const events: RunEvent[] = [];
  const observed = withPreview(sampler, { weight: [[1, 1, 1]], bias: [0, 0, 0] }, (e) => events.push(e), {
    scale: 8,
    maxSide: 100,
  });
  await observed.sample(() => Promise.resolve(x0), x0, { timesteps: [1000], onDecision() {} });
  const preview = events.find((e) => e.type === "preview")!;
  assert.deepEqual([
    preview.type === "preview" && preview.width,
    preview.type === "preview" && preview.height,
  ], [
    60,
    80,
  ]);
});
