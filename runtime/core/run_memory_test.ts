import assert from "node:assert/strict";
import { BudgetError } from "./errors.ts";
import { firstPassBudget, RunMemory, summarize } from "./run_memory.ts";
import type { Executor, Plan } from "./types.ts";

Deno.test("RunMemory measures added RSS over its start and keeps the peak across nested windows", () => {
  const memory = new RunMemory(null);
  const outer = memory.window();
  const grow = new Uint8Array(48 * 2 ** 20).fill(1); // touched: resident
  const inner = memory.window(); // resets the kernel's mark: the outer window must keep the 48 MiB
  assert(outer() >= 40 * 2 ** 20, `outer window saw ${outer()}`);
  assert(memory.peakAdded() >= 40 * 2 ** 20);
  assert(inner() <= memory.peakAdded());
  assert.deepEqual(grow[grow.length - 1], 1);
  assert.deepEqual(memory.left(), null);
});

Deno.test("RunMemory.planBudget takes out what the run holds, the fixed bytes, and prices new lanes", async () => {
  const memory = new RunMemory(200 * 2 ** 20);
  const lanes: number[] = [];
  const fake = {
    start(n: number) {
      lanes.push(n);
      return Promise.resolve();
    },
  } as unknown as Executor;
  await memory.startLanes(fake, 1);
  assert.deepEqual(memory.lanesRunning, 1);
  const b = memory.planBudget(10 * 2 ** 20);
  assert(b.bytes !== null && b.bytes <= 190 * 2 ** 20);
  assert.deepEqual(b.lanesRunning, 1);
  assert.deepEqual(b.laneBytes, memory.nextLaneBytes());
  // a stage budget tighter than the run's wins
  assert.deepEqual(memory.planBudget(0, 5 * 2 ** 20).bytes, 5 * 2 ** 20);
  await memory.startLanes(fake, 1); // already running: nothing measured again
  assert.deepEqual(memory.laneBytes.length, 1);
});

Deno.test("RunMemory.require refuses a need over the budget with one BudgetError", () => {
  const memory = new RunMemory(2 ** 20);
  memory.require("fits", 2 ** 19);
  assert.throws(
    () => memory.require("the first lane", 2 ** 21),
    (e) => e instanceof BudgetError && /Cannot run within the memory budget/.test(e.message),
  );
});

Deno.test("summarize() reads lanes, resident blocks and prefetch off a plan", () => {
  const plan: Plan = {
    scheduler: "ci-dl",
    stage: "denoiser",
    lanes: 2,
    resident: ["a"],
    setup: [{ op: "load", block: "a", lane: 0 }],
    pass: [{ op: "run", block: "a", lane: 0 }, { op: "load", block: "b", lane: 1 }, {
      op: "run",
      block: "b",
      lane: 1,
    }, { op: "unload", block: "b", lane: 1 }],
    teardown: [{ op: "unload", block: "a", lane: 0 }],
    peakBytes: 10,
    budgetBytes: 20,
  };
  assert.deepEqual(summarize(plan), {
    scheduler: "ci-dl",
    lanes: 2,
    resident: 1,
    prefetch: 1,
    peakBytes: 10,
    budgetBytes: 20,
  });
});

Deno.test("firstPassBudget streams one block at a time when the largest block and the largest run differ", async () => {
  const { ciDl } = await import("../../schedulers/ci_dl.ts");
  const { resident } = await import("../../schedulers/resident.ts");
  const { instantiate } = await import("./registry.ts");
  const { planStage } = await import("./stage.ts");
  const mb = 2 ** 20;
  // the largest block (a) is not the one with the largest working memory (b): a + b's work is the least
  const info = {
    stage: "denoiser" as const,
    passes: 3,
    blocks: [
      { name: "a", bytes: 82 * mb, workBytes: 30 * mb },
      { name: "b", bytes: 81 * mb, workBytes: 48 * mb },
      { name: "c", bytes: 81 * mb, workBytes: 31 * mb },
      { name: "d", bytes: 20 * mb, workBytes: 8 * mb },
    ],
  };
  const full = { bytes: 300 * mb, laneBytes: 0, lanesRunning: 0 };
  const scheduler = instantiate(ciDl, {});
  const first = firstPassBudget(scheduler, info, full);
  assert(first.bytes !== null && first.bytes >= 130 * mb && first.bytes < 300 * mb, `${first.bytes}`);
  const plan = planStage(scheduler, info, first);
  assert.deepEqual([plan.resident.length, plan.lanes], [0, 1]);
  // with the whole budget the same scheduler prefetches or keeps blocks: not the least plan
  const whole = planStage(scheduler, info, full);
  assert(whole.resident.length + whole.lanes > 1);
  // a scheduler that cannot stream gets the whole budget (its plan then refuses or fits as a whole)
  assert.deepEqual(firstPassBudget(instantiate(resident, {}), info, full), full);
  assert.deepEqual(firstPassBudget(scheduler, info, { bytes: null }), { bytes: null });
});

/** A ci-dl scheduler that refuses every budget while `refuse.on` (as when measured costs leave no room). */
async function refusingCiDl(refuse: { on: boolean }) {
  const { ciDl } = await import("../../schedulers/ci_dl.ts");
  const { instantiate } = await import("./registry.ts");
  const inner = instantiate(ciDl, {});
  return {
    ...inner,
    name: "ci-dl",
    kind: "scheduler" as const,
    plan(stage: Parameters<typeof inner.plan>[0], budget: Parameters<typeof inner.plan>[1]) {
      if (refuse.on) throw new BudgetError("Cannot plan: refused for the test", 1, 0);
      return inner.plan(stage, budget);
    },
  };
}

/** Run an adaptive stage's first pass (one block at a time) by its events; returns its plan. */
async function firstPass(budget: number, refuse: { on: boolean }) {
  const { adaptiveStage, openStageMemory } = await import("./run_memory.ts");
  const { planStage } = await import("./stage.ts");
  const mb = 2 ** 20;
  const info = {
    stage: "denoiser" as const,
    passes: 4,
    blocks: ["a", "b", "c", "d"].map((name) => ({ name, bytes: mb, workBytes: 0 })),
  };
  const memory = new RunMemory(budget);
  const stageMemory = openStageMemory(memory, "denoiser", undefined);
  const scheduler = await refusingCiDl(refuse);
  const a = adaptiveStage(memory, stageMemory, scheduler, info, 0);
  const plan = planStage(scheduler, info, a.firstBudget);
  a.begin();
  info.blocks.forEach((b, index) =>
    a.observe({
      type: "block",
      stage: "denoiser",
      block: b.name,
      index,
      count: 4,
      op: "unload",
      lane: 0,
      pass: 0,
      start: 0,
      end: 0,
    })
  );
  return { a, plan, info, notes: stageMemory.notes };
}

Deno.test("adaptiveStage keeps the first pass's plan when the measured costs leave room for no other", async () => {
  const refuse = { on: false };
  const { a, plan, info, notes } = await firstPass(512 * 2 ** 20, refuse);
  assert.deepEqual([plan.resident.length, plan.lanes], [0, 1]);
  refuse.on = true; // no plan fits what the first pass left: it held, so it goes on instead of refusing
  assert.deepEqual(a.adapt({ pass: 0, plan, stage: info }), null);
  assert.match(notes.at(-1)!, /no other plan fits what is left: the first plan holds/);
});

Deno.test("adaptiveStage goes back to the first pass's plan when a later pass leaves no room for the current one", async () => {
  const refuse = { on: false };
  const budget = 48 * 2 ** 20;
  const { a, plan, info, notes } = await firstPass(budget, refuse);
  const wider = a.adapt({ pass: 0, plan, stage: info });
  assert.ok(wider !== null && wider.resident.length > 0, "re-planned with resident blocks");
  const grow = new Uint8Array(96 * 2 ** 20).fill(1); // the pass peaks over the budget: no plan fits the rest
  const back = a.adapt({ pass: 1, plan: wider, stage: info });
  assert.deepEqual(grow[grow.length - 1], 1);
  assert.ok(back !== null, "switched plans");
  assert.deepEqual([back.resident.length, back.lanes], [plan.resident.length, plan.lanes]);
  assert.match(notes.at(-1)!, /re-planned from \d+ resident blocks, prefetch \d+ to 0, prefetch 0/);
  // the first pass's plan running, a pass over the limit is refused (nothing runs in less)
  assert.throws(() => a.adapt({ pass: 2, plan: back, stage: info }), (e) => e instanceof BudgetError);
});
