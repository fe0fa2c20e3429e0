import assert from "node:assert/strict";
import { instantiate } from "../runtime/core/registry.ts";
import { fromArray, tensor } from "../runtime/core/tensor.ts";
import { rflowTimesteps } from "../runtime/core/timesteps.ts";
import type { ModelFn } from "../runtime/core/types.ts";
import { euler, eulerDt, sampleEuler } from "./euler.ts";
import { sampleRecorded } from "./_test_fields.ts";

Deno.test("euler integrates v = c·x to the product of (1 + c·dt_i), one step event per call", async () => {
  const ts = rflowTimesteps({ steps: 30, height: 240, width: 426, frames: 51 });
  const c = -0.8;
  const model: ModelFn = (x) => Promise.resolve(tensor("float32", x.dims, x.data.map((v) => c * v)));
  const x0 = fromArray([1, 3], [1, -2, 0.5]);
  const { latent: out, events } = await sampleRecorded(instantiate(euler), model, x0, ts);
  const factor = ts.reduce((p, _t, i) => p * (1 + c * eulerDt(ts, i)), 1);
  [...out.data].forEach((v, i) => assert.ok(Math.abs(v - x0.data[i] * factor) < 1e-5 * Math.abs(x0.data[i])));
  const steps = events.flatMap((e) => (e.type === "step" ? [e] : []));
  assert.deepEqual(steps.map((s) => s.calls), ts.map((_t, i) => i + 1));
  assert.deepEqual(steps.map((s) => s.t), ts);
});

Deno.test("euler follows a straight rectified flow exactly to its data point", async () => {
  // x_τ = (1 − τ)·x0 + τ·ε has velocity v = x0 − ε = (x0 − x)/τ: every Euler step stays on the line.
  const x0 = [0.25, -1.5];
  const model: ModelFn = (x, t) =>
    Promise.resolve(tensor("float32", x.dims, x.data.map((v, i) => (x0[i] - v) / (t / 1000))));
  const ts = rflowTimesteps({ steps: 10, height: 256, width: 256, frames: 51 });
  const out = await sampleEuler(model, fromArray([2], [2, 3]), { timesteps: ts, onDecision: () => {} });
  [...out.data].forEach((v, i) => assert.ok(Math.abs(v - x0[i]) < 1e-5));
});

Deno.test("eulerDt() uses t_{K-1}/1000 for the last step so the dts sum to t_0/1000", () => {
  const ts = [1000, 600, 200];
  assert.deepEqual(ts.map((_t, i) => eulerDt(ts, i)), [0.4, 0.4, 0.2].map(Math.fround));
});

Deno.test("euler stops between calls when the run is aborted (the model function checks the signal)", async () => {
  const ctrl = new AbortController();
  let calls = 0;
  const model: ModelFn = (x) => {
    if (++calls === 2) ctrl.abort(new Error("stop"));
    return Promise.resolve(x);
  };
  await assert.rejects(
    sampleRecorded(instantiate(euler), model, fromArray([1], [1]), [1000, 500, 100], ctrl.signal),
    /stop/,
  );
  assert.equal(calls, 2);
});
