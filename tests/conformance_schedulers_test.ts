/**
 * Conformance cases every memory scheduler gets for free (the built-ins of schedulers/mod.ts): plans are
 * well-formed data, stay within their budget and their stated peak (checked statically and by running
 * the plan through the real plan runner with a memory-recording executor), impossible budgets fail before
 * any work, and every scheduler gives bit-equal latents on a real bundle.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BudgetError } from "../runtime/errors.ts";
import { type PlanRunContext, runOps } from "../runtime/plan_runner.ts";
import { readSafetensors } from "../runtime/safetensors.ts";
import type { BlockInfo, Executor, MemoryScheduler, Plan, StageInfo, Tensor } from "../runtime/types.ts";
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
  const blocks: BlockInfo[] = Array.from({ length: count }, (_, i) => ({
    name: `block_${i}`,
    bytes: Math.round(1000 + next() * 9000),
    workBytes: Math.round(100 + next() * 2000),
  }));
  return { stage: "denoiser", blocks, passes: 30 };
}

const STAGES = [SMALL_STAGE, randomStage(7, 12), randomStage(99, 30)];
const make = (name: string): MemoryScheduler => {
  const def = schedulers.find((d) => d.name === name)!;
  return def.create(def.options.parse({}));
};
/** What one block needs on a lane: its weights + the lane's kept working memory (the stage's largest). */
const need = (b: BlockInfo, stage: StageInfo) => b.bytes + Math.max(...stage.blocks.map((x) => x.workBytes));

/** Check that a plan is well-formed data for `stage`. */
function checkShape(plan: Plan, stage: StageInfo): void {
  const names = stage.blocks.map((b) => b.name);
  assert.deepEqual(
    plan.pass.filter((op) => op.op === "run").map((op) => op.block),
    names,
    "runs in stage order",
  );
  const all = [...plan.setup, ...plan.pass, ...plan.teardown];
  assert.ok(all.every((op) => names.includes(op.block) && op.lane >= 0 && op.lane < plan.lanes));
  const lane = new Map<string, number>();
  for (const op of all) {
    assert.equal(lane.get(op.block) ?? op.lane, op.lane, `block '${op.block}' stays on one lane`);
    lane.set(op.block, op.lane);
  }
  const loaded = new Set(plan.setup.filter((op) => op.op === "load").map((op) => op.block));
  assert.deepEqual([...loaded].sort(), [...plan.resident].sort(), "setup loads exactly the resident blocks");
  for (const op of plan.pass) {
    if (op.op === "load") (assert.ok(!loaded.has(op.block)), loaded.add(op.block));
    if (op.op === "run") assert.ok(loaded.has(op.block), `'${op.block}' is loaded before it runs`);
    if (op.op === "unload") (assert.ok(loaded.has(op.block)), loaded.delete(op.block));
  }
  assert.deepEqual([...loaded].sort(), [...plan.resident].sort(), "a pass leaves only the resident blocks");
  assert.deepEqual(plan.teardown.map((op) => op.block).sort(), [...plan.resident].sort());
}

/**
 * Run the plan for `passes` passes through the real plan runner; returns the most bytes ever held: loaded
 * weights plus what each lane keeps, the working memory of the largest block it has run (as a lane's heap).
 */
async function observedPeak(
  plan: Plan,
  stage: StageInfo,
  passes: number,
  seed: number,
): Promise<{ peak: number; overlap: boolean }> {
  const info = new Map(stage.blocks.map((b) => [b.name, b]));
  let s = seed;
  const delay = () => new Promise((r) => setTimeout(r, (s = (s * 48271) % 2147483647) % 3));
  let held = 0;
  let peak = 0;
  let running = 0;
  const laneKept = new Map<number, number>();
  let overlap = false;
  let id = 0;
  const executor: Executor = {
    name: "recording",
    kind: "executor",
    start: () => Promise.resolve(),
    load: async (ref) => {
      held += ref.bytes;
      peak = Math.max(peak, held);
      if (running > 0) overlap = true;
      await delay();
      return { ref, id: ++id };
    },
    run: () => Promise.resolve({}),
    unload: async (block) => {
      await delay();
      held -= block.ref.bytes;
    },
    memory: () => Promise.resolve({ residentBytes: held, availableBytes: 0, rssBytes: 0 }),
    close: () => Promise.resolve(),
  };
  const ctx: PlanRunContext = {
    stage: "denoiser",
    executor,
    refs: new Map(
      stage.blocks.map((
        b,
      ) => [b.name, { stage: "denoiser" as const, name: b.name, path: "", bytes: b.bytes }]),
    ),
    order: new Map(stage.blocks.map((b, i) => [b.name, i])),
    loaded: new Map(),
    runBlock: async (block) => {
      const work = info.get(block.ref.name)!.workBytes;
      const kept = laneKept.get(block.ref.lane) ?? 0;
      running++;
      if (work > kept) (held += work - kept, laneKept.set(block.ref.lane, work));
      peak = Math.max(peak, held);
      await delay();
      running--;
    },
    emit: () => {},
    origin: performance.now(),
    budgetBytes: plan.budgetBytes,
  };
  await runOps(plan.setup, ctx, 0);
  for (let p = 0; p < passes; p++) await runOps(plan.pass, ctx, p);
  await runOps(plan.teardown, ctx, passes - 1);
  const kept = [...laneKept.values()].reduce((a, b) => a + b, 0);
  assert.equal(held, kept, "everything loaded is unloaded (the lanes keep only their working memory)");
  return { peak, overlap };
}

for (const def of schedulers) {
  Deno.test(`scheduler '${def.name}' plans well-formed data within its budget and its stated peak`, async () => {
    for (const [i, stage] of STAGES.entries()) {
      const weights = stage.blocks.reduce((a, b) => a + b.bytes, 0);
      const largest = Math.max(...stage.blocks.map((b) => need(b, stage)));
      for (const budget of [null, weights * 2, weights, Math.round(weights * 0.5), largest * 3, largest]) {
        let plan: Plan;
        try {
          plan = make(def.name).plan(stage, { bytes: budget });
        } catch (e) {
          assert.ok(
            e instanceof BudgetError && budget !== null,
            `${def.name}: only a budget may refuse (${e})`,
          );
          assert.ok(e.neededBytes > e.budgetBytes && e.budgetBytes === budget);
          continue;
        }
        checkShape(plan, stage);
        assert.equal(plan.scheduler, def.name);
        assert.ok(planPeakBytes(plan, stage.blocks) <= plan.peakBytes, `${def.name}: stated peak is a bound`);
        if (budget !== null) assert.ok(plan.peakBytes <= budget, `${def.name}: peak within budget ${budget}`);
        const run = await observedPeak(plan, stage, 2, 17 + i);
        assert.ok(run.peak <= plan.peakBytes, `${def.name}: ran at ${run.peak} > stated ${plan.peakBytes}`);
      }
    }
  });

  Deno.test(`scheduler '${def.name}' refuses a budget below one block's need, before any work`, () => {
    for (const stage of STAGES) {
      const largest = Math.max(...stage.blocks.map((b) => need(b, stage)));
      assert.throws(
        () => make(def.name).plan(stage, { bytes: largest - 1 }),
        (e) =>
          e instanceof BudgetError && e.budgetBytes === largest - 1 &&
          /^Cannot plan stage 'denoiser'/.test(e.message),
      );
    }
  });
}

Deno.test("concurrent and ci-dl really overlap loads with runs in the plan runner", async () => {
  for (const name of ["concurrent", "ci-dl"]) {
    const stage = STAGES[2];
    const weights = stage.blocks.reduce((a, b) => a + b.bytes, 0);
    const plan = make(name).plan(stage, { bytes: Math.round(weights / 2) });
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
      tdtm.create({ mergeSteps: 1, oddFrame: "alone" }),
    ]]] as const
  ) {
    let first: Tensor<"float32"> | null = null;
    for (const [name, budgetBytes] of runs) {
      const r = await denoiseWith(dir, {
        sampler: euler.create({}),
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
