import assert from "node:assert/strict";
import { fromArray, tensor } from "../../runtime/core/tensor.ts";
import type { ModelFn } from "../../runtime/core/types.ts";
import { plugin } from "./heun.ts";
import { sampleRecorded } from "../../samplers/_test_fields.ts";
import { instantiate } from "../../runtime/core/registry.ts";

const linear = (c: number, log: number[]): ModelFn => (x, t) => {
  log.push(t);
  return Promise.resolve(tensor("float32", x.dims, x.data.map((v) => c * v)));
};

Deno.test("heun integrates v = c·x with the second-order factor 1 + c·dt + (c·dt)²/2 per step", async () => {
  const ts = [1000, 750, 500, 250];
  const c = -1.2;
  const log: number[] = [];
  const { latent: out, events } = await sampleRecorded(
    instantiate(plugin, { finalEuler: false }),
    linear(c, log),
    fromArray([1], [2]),
    ts,
  );
  const steps = events.flatMap((e) => (e.type === "step" ? [e.calls] : []));
  const factor = ts.map(() => 0.25 * c).reduce((p, h) => p * (1 + h + (h * h) / 2), 1);
  assert.ok(Math.abs(out.data[0] - 2 * factor) < 1e-5);
  assert.deepEqual(log, [1000, 750, 750, 500, 500, 250, 250, 0]);
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("heun plugin defaults to a final Euler step (2K − 1 calls) and validates its options", async () => {
  const log: number[] = [];
  await sampleRecorded(instantiate(plugin, {}), linear(-1, log), fromArray([1], [1]), [1000, 500]);
  assert.deepEqual(log, [1000, 500, 500]);
  assert.equal(plugin.options.safeParse({ finalEuler: 1 }).success, false);
  assert.equal(plugin.options.safeParse({ other: true }).success, false);
});
