/**
 * Conformance checks a plugin author runs on a definition (built-in or outside this repository, through
 * `plugin.ts`): what every sampler and every memory scheduler must do for the runtime to rely on it. Each
 * throws an `AssertionError` that names the plugin and the broken rule.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BudgetError } from "./errors.ts";
import { type PlanRunContext, runOps } from "./plan_runner.ts";
import { instantiate } from "./registry.ts";
import { runSampler } from "./sample.ts";
import { planStage } from "./stage.ts";
import { fromArray, tensor } from "./tensor.ts";
import { rflowTimesteps } from "./timesteps.ts";
import type { BlockInfo, Executor, ModelFn, Plan, PluginDefinition, RunEvent, StageInfo } from "./types.ts";

/** Options of {@link assertSamplerConforms}. */
export interface SamplerConformance {
  /** Raw options for the plugin (validated by its schema); default `{}`. */
  options?: Record<string, unknown>;
  /**
   * The order of convergence the sampler claims on a smooth field (Euler 1, Heun 2); 0 for a sampler that
   * deliberately stops integrating (a leap). Default 1.
   */
  order?: number;
}

/** Uniform timesteps t_i = 1000·(1 − i/K). */
const uniform = (k: number) => Array.from({ length: k }, (_, i) => 1000 * (1 - i / k));

/** The straight flow to one data point: v = (x0 − x)/τ. Every consistent rectified-flow sampler lands on x0. */
function straight(x0: Float32Array, calls: { t: number; step: number }[]): ModelFn {
  return (x, t, step) => {
    calls.push({ t, step });
    return Promise.resolve(tensor("float32", x.dims, x.data.map((v, i) => (x0[i] - v) / (t / 1000))));
  };
}

/**
 * The order of convergence `def` shows on the linear field v = c·x (exact end point x0·e^c): the error at
 * K and 2K uniform steps gives log2(e_K / e_2K).
 *
 * @example
 * ```ts ignore
 * convergenceOrder(euler, {}); // ≈ 1
 * ```
 */
export async function convergenceOrder(
  def: PluginDefinition<"sampler">,
  options: Record<string, unknown> = {},
  k = 16,
): Promise<number> {
  const c = -1.3;
  const x0 = fromArray([1, 1, 1, 1, 3], [1, -0.5, 0.25]);
  const field: ModelFn = (x) => Promise.resolve(tensor("float32", x.dims, x.data.map((v) => c * v)));
  const error = async (steps: number) => {
    const { latent } = await runSampler(instantiate(def, options), field, x0, {
      timesteps: uniform(steps),
      emit: () => {},
    });
    return Math.max(...latent.data.map((v, i) => Math.abs(v - x0.data[i] * Math.exp(c))));
  };
  return Math.log2((await error(k)) / (await error(2 * k)));
}

/**
 * Check a sampler definition: it lands on the data point of a straight flow without writing its input, calls
 * the model along the schedule (first call at t_0, step indices in order), reports decisions inside the
 * steps it took, stops once the run is cancelled, and shows the order of convergence it claims on a linear
 * field (within 0.25).
 *
 * @example
 * ```ts ignore
 * import { assertSamplerConforms } from "odsora/plugin.ts";
 * Deno.test("my sampler conforms", () => assertSamplerConforms(plugin, { order: 2 }));
 * ```
 */
export async function assertSamplerConforms(
  def: PluginDefinition<"sampler">,
  conformance: SamplerConformance = {},
): Promise<void> {
  const { options = {}, order = 1 } = conformance;
  const name = `sampler '${def.name}'`;
  assert.equal(def.kind, "sampler", `${name}: kind is 'sampler'`);
  const timesteps = rflowTimesteps({ steps: 30, height: 256, width: 256, frames: 68 });
  const noise = fromArray([1, 4, 2, 3, 3], Array.from({ length: 72 }, (_, i) => Math.sin(i * 1.7) * 1.5));
  const target = new Float32Array(72).map((_, i) => Math.cos(i * 0.3) * 0.5);
  const before = Float32Array.from(noise.data);
  const calls: { t: number; step: number }[] = [];
  const events: RunEvent[] = [];
  const { latent } = await runSampler(instantiate(def, options), straight(target, calls), noise, {
    timesteps,
    emit: (e) => events.push(e),
  });
  assert.deepEqual(latent.dims, noise.dims, `${name}: the latent keeps its dims`);
  latent.data.forEach((v, i) =>
    assert.ok(
      Math.abs(v - target[i]) < 1e-4,
      `${name}: lands on a straight flow's data point (element ${i}: ${v})`,
    )
  );
  assert.deepEqual(noise.data, before, `${name}: the input latent must not be written`);
  assert.ok(calls.length >= 1, `${name}: calls the model`);
  assert.deepEqual(calls[0], { t: timesteps[0], step: 0 }, `${name}: the first call is at t_0, step 0`);
  calls.forEach((c, i) =>
    assert.ok(
      Number.isInteger(c.step) && c.step >= 0 && c.step < timesteps.length &&
        (i === 0 || c.step >= calls[i - 1].step),
      `${name}: call ${i} has step '${c.step}' out of order or outside the schedule`,
    )
  );
  const last = calls.at(-1)!.step;
  for (const e of events) {
    if (e.type !== "decision") continue;
    assert.ok(
      e.step >= 0 && e.step <= last && e.message.length > 0,
      `${name}: decision '${e.message}' at a step taken`,
    );
  }

  const controller = new AbortController();
  let made = 0;
  const stopping: ModelFn = (x) => {
    if (++made === 3) controller.abort(new DOMException("stop", "AbortError"));
    return Promise.resolve(x);
  };
  await assert.rejects(
    runSampler(instantiate(def, options), stopping, noise, {
      timesteps,
      emit: () => {},
      signal: controller.signal,
    }),
    `${name}: a cancelled run rejects`,
  );
  assert.equal(made, 3, `${name}: no model call after cancellation`);

  if (order > 0) {
    const measured = await convergenceOrder(def, options);
    assert.ok(
      measured >= order - 0.25,
      `${name}: converges at order ${measured.toFixed(2)} on a linear field, it claims ${order}`,
    );
  }
}

/** Options of {@link assertSchedulerConforms}. */
export interface SchedulerConformance {
  /** Raw options for the plugin (validated by its schema); default `{}`. */
  options?: Record<string, unknown>;
  /** Stages to plan (default: three of 3, 12 and 30 blocks with varied sizes). */
  stages?: readonly StageInfo[];
}

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

/** What one block needs on a lane: its weights + the lane's kept working memory (the stage's largest). */
const need = (b: BlockInfo, stage: StageInfo) => b.bytes + Math.max(...stage.blocks.map((x) => x.workBytes));

function checkShape(plan: Plan, stage: StageInfo, name: string): void {
  const names = stage.blocks.map((b) => b.name);
  const all = [...plan.setup, ...plan.pass, ...plan.teardown];
  assert.ok(all.every((op) => names.includes(op.block)), `${name}: every op names a block of the stage`);
  const lane = new Map<string, number>();
  for (const op of all) {
    assert.equal(lane.get(op.block) ?? op.lane, op.lane, `${name}: block '${op.block}' stays on one lane`);
    lane.set(op.block, op.lane);
  }
  const loaded = new Set(plan.setup.filter((op) => op.op === "load").map((op) => op.block));
  assert.deepEqual(
    [...loaded].sort(),
    [...plan.resident].sort(),
    `${name}: setup loads exactly the resident blocks`,
  );
  for (const op of plan.pass) {
    if (op.op === "load") {
      (assert.ok(!loaded.has(op.block), `${name}: '${op.block}' loaded twice`), loaded.add(op.block));
    }
    if (op.op === "run") assert.ok(loaded.has(op.block), `${name}: '${op.block}' is loaded before it runs`);
    if (op.op === "unload") (assert.ok(loaded.has(op.block)), loaded.delete(op.block));
  }
  assert.deepEqual(
    [...loaded].sort(),
    [...plan.resident].sort(),
    `${name}: a pass leaves only the resident blocks`,
  );
  assert.deepEqual(
    plan.teardown.map((op) => op.block).sort(),
    [...plan.resident].sort(),
    `${name}: teardown`,
  );
}

/**
 * Run the plan for `passes` passes through the real plan runner with an executor that only counts bytes;
 * returns the most bytes ever held (loaded weights plus each lane's kept working memory) and whether a load
 * ever overlapped a run.
 *
 * @example
 * ```ts ignore
 * const { peak } = await observedPeak(plan, stage, 2, 17);
 * ```
 */
export async function observedPeak(
  plan: Plan,
  stage: StageInfo,
  passes: number,
  seed: number,
): Promise<{ peak: number; overlap: boolean }> {
  const info = new Map(stage.blocks.map((b) => [b.name, b]));
  let s = seed;
  const delay = () => new Promise((r) => setTimeout(r, (s = (s * 48271) % 2147483647) % 3));
  let held = 0, peak = 0, running = 0, id = 0;
  const laneKept = new Map<number, number>();
  let overlap = false;
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
    stage: stage.stage,
    executor,
    refs: new Map(
      stage.blocks.map((b) => [b.name, { stage: stage.stage, name: b.name, path: "", bytes: b.bytes }]),
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

/**
 * Check a memory-scheduler definition over several stages and budgets (none, twice the weights, the
 * weights, half, three blocks, one block, and just below one block): every plan the runtime accepts runs
 * each block in order on its own lanes, holds within its budget and its stated peak when the real plan
 * runner carries it out, and only a budget refuses, with a `BudgetError` before any work; below one
 * block's need it always refuses.
 *
 * @example
 * ```ts ignore
 * import { assertSchedulerConforms } from "odsora/plugin.ts";
 * Deno.test("my scheduler conforms", () => assertSchedulerConforms(plugin));
 * ```
 */
export async function assertSchedulerConforms(
  def: PluginDefinition<"scheduler">,
  conformance: SchedulerConformance = {},
): Promise<void> {
  const { options = {} } = conformance;
  const stages = conformance.stages ?? [
    randomStage(3, 3),
    randomStage(7, 12),
    randomStage(99, 30),
  ];
  const name = `scheduler '${def.name}'`;
  assert.equal(def.kind, "scheduler", `${name}: kind is 'scheduler'`);
  for (const [i, stage] of stages.entries()) {
    const weights = stage.blocks.reduce((a, b) => a + b.bytes, 0);
    const largest = Math.max(...stage.blocks.map((b) => need(b, stage)));
    const available = weights * 3;
    for (const bytes of [null, weights * 2, weights, Math.round(weights * 0.5), largest * 3, largest]) {
      let plan: Plan;
      try {
        plan = planStage(instantiate(def, options), stage, { bytes, availableBytes: available });
      } catch (e) {
        assert.ok(e instanceof BudgetError && bytes !== null, `${name}: only a budget may refuse (${e})`);
        assert.ok(
          e.neededBytes > e.budgetBytes && e.budgetBytes === bytes,
          `${name}: the refusal names the budget`,
        );
        continue;
      }
      checkShape(plan, stage, name);
      assert.equal(plan.scheduler, def.name);
      if (bytes !== null) {
        assert.ok(plan.peakBytes <= bytes, `${name}: peak ${plan.peakBytes} within budget ${bytes}`);
      }
      const run = await observedPeak(plan, stage, 2, 17 + i);
      assert.ok(run.peak <= plan.peakBytes, `${name}: ran at ${run.peak} > stated ${plan.peakBytes}`);
    }
    assert.throws(
      () => planStage(instantiate(def, options), stage, { bytes: largest - 1, availableBytes: available }),
      (e) =>
        e instanceof BudgetError && e.budgetBytes === largest - 1 && /^Cannot plan stage /.test(e.message),
      `${name}: a budget below one block's need is refused`,
    );
  }
}
