/**
 * Conformance cases every memory scheduler gets for free (the built-ins of schedulers/mod.ts): each goes
 * through `assertSchedulerConforms` (plugin.ts: plans are well-formed data, stay within their budget and
 * their stated peak when the real plan runner carries them out, impossible budgets fail before any work);
 * here also the static peak bound, real overlap of loads with runs, and bit-equal latents on a real bundle.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertSchedulerConforms, instantiate, planStage } from "../plugin.ts";
import { observedPeak } from "../runtime/core/conformance.ts";
import { readSafetensors } from "../runtime/bundle/safetensors.ts";
import type { MemoryScheduler, StageInfo, Tensor } from "../runtime/core/types.ts";
import { euler } from "../samplers/euler.ts";
import { schedulers } from "../schedulers/mod.ts";
import { planPeakBytes } from "../schedulers/_plan_peak.ts";
import { SMALL_STAGE } from "../schedulers/_test_stage.ts";
import { tdtm } from "../plugins/tdtm.ts";
import { toyDenoiserBundle } from "./_bundles.ts";
import { denoiseWith } from "./_denoise_with.ts";

function randomStage(seed: number, count: number): StageInfo {
  let s = seed;
  const next = () => (s = (s * 48271) % 2147483647) / 2147483647;
  const blocks = Array.from({ length: count }, (_, i) => ({
    name: `block_${i}`,
    bytes: Math.round(1000 + next() * 9000),
    workBytes: Math.round(100 + next() * 2000),
  }));
  return { stage: "denoiser", blocks, passes: 30 };
}

const STAGES = [SMALL_STAGE, randomStage(7, 12), randomStage(99, 30)];
const make = (name: string): MemoryScheduler => instantiate(schedulers.find((d) => d.name === name)!);

for (const def of schedulers) {
  Deno.test(`scheduler '${def.name}' conforms (shape, budget, observed peak, refusals)`, async () => {
    await assertSchedulerConforms(def, { stages: STAGES });
  });

  Deno.test(`scheduler '${def.name}' states a peak that bounds its plan statically`, () => {
    for (const stage of STAGES) {
      const weights = stage.blocks.reduce((a, b) => a + b.bytes, 0);
      const plan = planStage(make(def.name), stage, { bytes: weights * 2, availableBytes: weights * 3 });
      assert.ok(planPeakBytes(plan, stage.blocks) <= plan.peakBytes, `${def.name}: stated peak is a bound`);
    }
  });
}

Deno.test("concurrent and ci-dl really overlap loads with runs in the plan runner", async () => {
  for (const name of ["concurrent", "ci-dl"]) {
    const stage = STAGES[2];
    const weights = stage.blocks.reduce((a, b) => a + b.bytes, 0);
    const plan = planStage(make(name), stage, { bytes: Math.round(weights / 2) });
    assert.ok(plan.lanes >= 2);
    assert.ok((await observedPeak(plan, stage, 2, 5)).overlap, name);
  }
});

Deno.test("every scheduler gives bit-equal latents on the toy denoiser bundle (with and without TDTM)", async () => {
  const dir = await toyDenoiserBundle();
  const e = await readSafetensors(join(dir, "expected.safetensors"));
  const timesteps = Array.from(e.timesteps.data as Float32Array);
  const bundle = JSON.parse(await Deno.readTextFile(join(dir, "bundle.json")));
  const blocks: { name: string; bytes: number }[] = bundle.denoiser.blocks;
  const work = 2000;
  const weights = blocks.reduce((a, b) => a + b.bytes, 0);
  const largest = Math.max(...blocks.map((b) => b.bytes)) + work;
  const runs: [string, number | null][] = [
    ...schedulers.map((d): [string, number | null] => [d.name, null]),
    ["ci-dl", weights + work],
    ["ci-dl", Math.round(weights * 0.75)],
    ["ci-dl", largest],
  ];
  for (
    const [label, ops] of [["z_final", []], ["z_final_merged", [
      instantiate(tdtm, { mergeSteps: 1, oddFrame: "alone" }),
    ]]] as const
  ) {
    let first: Tensor<"float32"> | null = null;
    for (const [name, budgetBytes] of runs) {
      const r = await denoiseWith(dir, {
        sampler: instantiate(euler),
        tokenOps: ops,
        scheduler: make(name),
        budgetBytes,
        workBytes: work,
        noise: e.z as Tensor<"float32">,
        y: e.y as Tensor<"float32">,
        yMask: e.y_mask,
        yNull: e.y_null as Tensor<"float32">,
        timesteps,
        fps: 24,
        height: 40,
        width: 48,
      });
      if (budgetBytes !== null) assert.ok(r.plan.peakBytes <= budgetBytes);
      first ??= r.latent;
      assert.deepEqual(r.latent.data, first.data, `${label}: '${name}' at budget ${budgetBytes} differs`);
    }
    // And the shared result is the torch reference's (TDTM's alone operators for T = 3 included).
    const ref = e[label].data as Float32Array;
    let num = 0, den = 0;
    first!.data.forEach((v, i) => ((num += (v - ref[i]) ** 2), (den += ref[i] ** 2)));
    assert.ok(Math.sqrt(num / den) < 1e-5, `${label} vs torch`);
  }
});
