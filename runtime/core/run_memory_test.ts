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
