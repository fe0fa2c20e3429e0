import assert from "node:assert/strict";
import { PluginError } from "../runtime/core/errors.ts";
import { fromArray } from "../runtime/core/tensor.ts";
import type { RunEvent } from "../runtime/core/types.ts";
import { lplDynamic } from "./lpl_dynamic.ts";
import { cosineField, linearTimesteps, sampleRecorded } from "./_test_fields.ts";
import { instantiate } from "../runtime/core/registry.ts";

const GOLDEN = new URL("../../shared/golden/", import.meta.url);
const x = fromArray([1, 1, 1, 3, 2], [0, 0, 0, 0, 0, 0]);

function decisions(events: RunEvent[]) {
  return events.flatMap((e) => (e.type === "decision" ? [e] : []));
}
function leapStep(events: RunEvent[]): number | null {
  const leap = decisions(events).find((d) => d.data?.leap === true && d.message.startsWith("leap"));
  return leap ? leap.step : null;
}

async function run(cosines: readonly (number | null)[], options: Record<string, unknown>) {
  const timesteps = linearTimesteps(cosines.length, 3);
  return (await sampleRecorded(instantiate(lplDynamic, options), cosineField(cosines), x, timesteps)).events;
}

Deno.test("lpl-dynamic reference preset leaps where the authors' code did on the fixtures' cosine sequences", async () => {
  for (
    const [fixture, runs] of [["ondevice_lpl", ["baseline", "lpl"]], ["ondevice_tdtm", [
      "tdtm",
      "tdtm_lpl",
    ]]] as const
  ) {
    const config = JSON.parse(await Deno.readTextFile(new URL(`${fixture}/config.json`, GOLDEN)));
    const full = config.runs[runs[0]].lpl_cos_per_step as (number | null)[]; // all 30 cosines, no leap
    const expected = config.runs[runs[1]];
    const events = await run(full, { preset: "reference" });
    assert.equal(leapStep(events), expected.leap_step, fixture);
    assert.equal(events.filter((e) => e.type === "step").length, expected.model_calls);
    // Every cosine the sampler reports is the one the reference printed (float32 rounding apart).
    for (const d of decisions(events).filter((d) => typeof d.data?.cosine === "number")) {
      assert.ok(Math.abs((d.data!.cosine as number) - full[d.step]!) < 1e-5, `${fixture} step ${d.step}`);
    }
    const checked = decisions(events).filter((d) => d.data?.checked === true).map((d) => d.step);
    assert.deepEqual(checked, Array.from({ length: expected.leap_step - 13 }, (_, i) => 14 + i));
  }
});

Deno.test("lpl-dynamic reference preset never leaps before step 16 and runs all steps while cosines improve", async () => {
  const flat = [null, ...Array(29).fill(0.5)];
  assert.equal(leapStep(await run(flat, { preset: "reference" })), 17); // 14 sets best, 15..17 miss
  const negative = [null, ...Array(29).fill(-0.2)];
  assert.equal(leapStep(await run(negative, { preset: "reference" })), 16); // 14..16 all miss (best 0)
  const rising = [null, ...Array.from({ length: 29 }, (_, i) => 0.1 + i * 0.03)];
  const events = await run(rising, { preset: "reference" });
  assert.equal(leapStep(events), null);
  assert.equal(events.filter((e) => e.type === "step").length, 30);
  // Gains below the tolerance (1e-3) over the best so far do not count.
  const small = [null, ...Array(13).fill(0), 0.5, 0.5005, 0.5009, 0.5009, ...Array(12).fill(0.9)];
  assert.equal(leapStep(await run(small, { preset: "reference" })), 17);
});

Deno.test("lpl-dynamic paper preset checks every step but never leaps before 50% of K", async () => {
  const flat = [null, ...Array(29).fill(0.9)];
  assert.equal(leapStep(await run(flat, { preset: "paper" })), 15);
  assert.equal(leapStep(await run([null, ...Array(19).fill(0.9)], { preset: "paper" })), 10);
  // Plateau reached late: three misses after the last improvement at step 20.
  const late = [null, ...Array.from({ length: 20 }, (_, i) => 0.5 + i * 0.02), ...Array(9).fill(0.8)];
  assert.equal(leapStep(await run(late, { preset: "paper" })), 23);
  // Tolerance 1e-4 over the best so far: +2e-4 per step improves every step; +3e-5 per step beats the
  // best only every 4th step (steps 1, 5, 9, 13, 17, ...), so three misses first end at step 16.
  const slow = [null, ...Array.from({ length: 29 }, (_, i) => 0.5 + i * 2e-4)];
  assert.equal(leapStep(await run(slow, { preset: "paper" })), null);
  const slower = [null, ...Array.from({ length: 29 }, (_, i) => 0.5 + i * 3e-5)];
  assert.equal(leapStep(await run(slower, { preset: "paper" })), 16);
});

Deno.test("lpl-dynamic explicit options override the preset", async () => {
  const flat = [null, ...Array(29).fill(0.9)];
  assert.equal(leapStep(await run(flat, { preset: "paper", minSteps: 5, patience: 2 })), 5);
  assert.equal(leapStep(await run(flat, { preset: "paper", minSteps: "80%" })), 24);
  assert.equal(leapStep(await run(flat, { preset: "reference", checkFrom: 3 })), 6);
});

Deno.test("lpl-dynamic reports every cosine as a decision with its state", async () => {
  const events = await run([null, 0.5, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7], { preset: "paper" });
  const d = decisions(events);
  assert.equal(d[0].step, 1);
  assert.match(d[0].message, /^cosine 0\.500000 at step 1: improved$/);
  assert.match(d[2].message, /^cosine 0\.700000 at step 3: no improvement 1\/3$/);
  assert.equal(d.at(-1)!.message, "leap at step 5");
});

Deno.test("lpl-dynamic refuses a minSteps that leaves no step to leap at", async () => {
  await assert.rejects(
    () => run([null, 0.5, 0.5], { preset: "paper", minSteps: 3 }),
    (e) => e instanceof PluginError && /Cannot sample with lpl-dynamic: minSteps '3'/.test(e.message),
  );
  assert.throws(() => lplDynamic.options.parse({ preset: "fast" }));
  assert.throws(() => lplDynamic.options.parse({ minSteps: "half" }));
});
