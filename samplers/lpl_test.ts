import assert from "node:assert/strict";
import { PluginError } from "../runtime/core/errors.ts";
import { fromArray } from "../runtime/core/tensor.ts";
import { lpl } from "./lpl.ts";
import { linearField, linearTimesteps, sampleRecorded, straightField } from "./_test_fields.ts";
import { instantiate } from "../runtime/core/registry.ts";

const x1 = fromArray([1, 2, 1, 1, 2], [1, -2, 0.5, 3]);

Deno.test("lpl sample() takes n Euler steps, then leaps with v_n·t_n/1000 (linear ODE, closed form)", async () => {
  const ts = linearTimesteps(30, 3);
  for (const leapAt of [0, 7, 15, 29]) {
    const field = linearField(-1.3);
    const { latent: out, events } = await sampleRecorded(instantiate(lpl, { leapAt }), field, x1, ts);
    let factor = 1;
    for (let i = 0; i < leapAt; i++) factor *= 1 - 1.3 * (ts[i] - ts[i + 1]) / 1000;
    factor *= 1 - 1.3 * ts[leapAt] / 1000;
    out.data.forEach((v, i) =>
      assert.ok(Math.abs(v - x1.data[i] * factor) < 1e-5 * Math.abs(x1.data[i]) + 1e-6)
    );
    assert.deepEqual(field.calls.map((c) => c.step), Array.from({ length: leapAt + 1 }, (_, i) => i));
    assert.deepEqual(field.calls.map((c) => c.t), ts.slice(0, leapAt + 1));
    const steps = events.filter((e) => e.type === "step");
    assert.deepEqual(steps.map((e) => e.type === "step" && e.calls), field.calls.map((_, i) => i + 1));
    const decisions = events.filter((e) => e.type === "decision");
    assert.equal(decisions.length, 1);
    assert.equal(decisions[0].type === "decision" && decisions[0].message, `leap at step ${leapAt}`);
  }
});

Deno.test("lpl sample() lands exactly on the data point of a straight flow, whatever the leap step", async () => {
  const x0 = new Float32Array([0.25, -1, 2, 0]);
  for (const leapAt of [0, 3, 15]) {
    const { latent: out } = await sampleRecorded(
      instantiate(lpl, { leapAt }),
      straightField(x0),
      x1,
      linearTimesteps(30, 2),
    );
    out.data.forEach((v, i) => assert.ok(Math.abs(v - x0[i]) < 1e-5));
  }
});

Deno.test("lpl sample() refuses a leap step outside the schedule", async () => {
  const sampler = instantiate(lpl, { leapAt: 30 });
  await assert.rejects(
    () => sampleRecorded(sampler, linearField(1), x1, linearTimesteps(30)),
    (e) => e instanceof PluginError && e.message === "Cannot leap at step '30': the schedule has '30' steps",
  );
});

Deno.test("lpl options default to the paper's step 15 and reject bad values", () => {
  assert.deepEqual(lpl.options.parse({}), { leapAt: 15 });
  assert.throws(() => lpl.options.parse({ leapAt: 1.5 }));
  assert.throws(() => lpl.options.parse({ leap: 15 }));
});
