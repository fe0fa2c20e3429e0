import assert from "node:assert/strict";
import { type PlanRunContext, runOps, unloadAll } from "./plan_runner.ts";
import type { BlockRef, Executor, LoadedBlock, PlanOp, RunEvent } from "./types.ts";

/** A test executor whose ops take fixed times per lane (as real lanes: one op at a time) and log start/end. */
function timedExecutor(ms: { load: number; run: number }, failLoad?: string) {
  const log: string[] = [];
  const busy = new Map<number, Promise<void>>();
  let id = 0;
  const onLane = async (lane: number, label: string, delay: number) => {
    const prev = busy.get(lane) ?? Promise.resolve();
    const p = prev.then(async () => {
      log.push(`start ${label}`);
      await new Promise((r) => setTimeout(r, delay));
      log.push(`end ${label}`);
    });
    busy.set(lane, p);
    await p;
  };
  const exec: Executor = {
    name: "timed",
    kind: "executor",
    start: () => Promise.resolve(),
    async load(ref: BlockRef) {
      if (ref.name === failLoad) throw new Error(`cannot load ${ref.name}`);
      await onLane(ref.lane, `load ${ref.name}`, ms.load);
      return { ref, id: ++id };
    },
    async run(b: LoadedBlock) {
      await onLane(b.ref.lane, `run ${b.ref.name}`, ms.run);
      return {};
    },
    async unload(b: LoadedBlock) {
      await onLane(b.ref.lane, `unload ${b.ref.name}`, 1);
    },
    memory: () => Promise.resolve({ residentBytes: 0, availableBytes: 1, rssBytes: 1 }),
    close: () => Promise.resolve(),
  };
  return { exec, log };
}

function context(exec: Executor, names: string[], events: RunEvent[], signal?: AbortSignal): PlanRunContext {
  return {
    stage: "denoiser",
    executor: exec,
    refs: new Map(names.map((n) => [n, { stage: "denoiser", name: n, path: `/${n}.onnx`, bytes: 10 }])),
    order: new Map(names.map((n, i) => [n, i])),
    loaded: new Map(),
    runBlock: (b) => exec.run(b, {}).then(() => {}),
    emit: (e) => events.push(e),
    origin: performance.now(),
    budgetBytes: null,
    signal,
  };
}

const ops = (spec: string): PlanOp[] =>
  spec.trim().split(/\s+/).map((s) => {
    const [op, block, lane] = s.split(":");
    return { op: op as PlanOp["op"], block, lane: Number(lane) };
  });

Deno.test("runOps() overlaps a load on lane 1 with a run on lane 0 and keeps runs in order", async () => {
  const { exec, log } = timedExecutor({ load: 30, run: 30 });
  const events: RunEvent[] = [];
  const ctx = context(exec, ["a", "b", "c"], events);
  await runOps(
    ops("load:a:0 run:a:0 load:b:1 unload:a:0 run:b:1 load:c:0 unload:b:1 run:c:0 unload:c:0"),
    ctx,
    0,
  );
  const at = (s: string) => log.indexOf(s);
  assert.ok(at("start load b") < at("end run a"), "load b overlaps run a");
  assert.ok(at("start load c") < at("end run b"), "load c overlaps run b");
  assert.ok(at("end run a") < at("start run b") && at("end run b") < at("start run c"), "runs are a chain");
  assert.ok(at("end run a") < at("start unload a"), "unload waits for its run");
  const blocks = events.filter((e) => e.type === "block");
  assert.equal(blocks.length, 9);
  assert.ok(blocks.every((e) => e.type === "block" && e.end >= e.start && e.pass === 0 && e.count === 3));
  assert.equal(events.filter((e) => e.type === "memory").length, 6);
  assert.equal(ctx.loaded.size, 0);
});

Deno.test("runOps() keeps plan order on one lane: sequential never holds two blocks", async () => {
  const { exec, log } = timedExecutor({ load: 5, run: 5 });
  await runOps(
    ops("load:a:0 run:a:0 unload:a:0 load:b:0 run:b:0 unload:b:0"),
    context(exec, ["a", "b"], []),
    3,
  );
  assert.deepEqual(log.filter((l) => l.startsWith("start")), [
    "start load a",
    "start run a",
    "start unload a",
    "start load b",
    "start run b",
    "start unload b",
  ]);
});

Deno.test("runOps() stops starting work after a failed load but still unloads what loaded", async () => {
  const { exec, log } = timedExecutor({ load: 5, run: 5 }, "b");
  const ctx = context(exec, ["a", "b", "c"], []);
  await assert.rejects(
    runOps(ops("load:a:0 load:b:1 run:a:0 run:b:1 load:c:0 run:c:0"), ctx, 0),
    /cannot load b/,
  );
  assert.ok(!log.includes("start run b") && !log.includes("start run c"));
  await unloadAll(ctx);
  assert.ok(log.includes("start unload a"));
  assert.equal(ctx.loaded.size, 0);
});

Deno.test("runOps() checks the abort signal between blocks", async () => {
  const { exec, log } = timedExecutor({ load: 1, run: 20 });
  const ctrl = new AbortController();
  const ctx = context(exec, ["a", "b"], [], ctrl.signal);
  const runBlock = ctx.runBlock;
  ctx.runBlock = (b) => {
    if (b.ref.name === "a") ctrl.abort(new Error("cancelled")); // the user cancels while block a runs
    return runBlock(b);
  };
  await assert.rejects(
    runOps(ops("load:a:0 load:b:0 run:a:0 run:b:0 unload:a:0 unload:b:0"), ctx, 0),
    /cancelled/,
  );
  assert.ok(log.includes("end run a") && !log.includes("start run b"));
  assert.ok(log.includes("start unload a") && log.includes("start unload b"), "unloads still happen");
});

Deno.test("runOps() rejects plans that run or unload a block never loaded", async () => {
  const { exec } = timedExecutor({ load: 1, run: 1 });
  await assert.rejects(runOps(ops("run:a:0"), context(exec, ["a"], []), 0), /the plan never loads it/);
  await assert.rejects(runOps(ops("load:z:0"), context(exec, ["a"], []), 0), /the stage has no such block/);
});

Deno.test("runOps() marks a load transient when the same ops unload it (a streamed block), not a kept one", async () => {
  const loads: BlockRef[] = [];
  const { exec } = timedExecutor({ load: 1, run: 1 });
  const recording: Executor = { ...exec, load: (ref) => (loads.push(ref), exec.load(ref)) };
  const ctx = context(recording, ["a", "b"], []);
  await runOps(ops("load:a:0"), ctx, 0); // setup: kept across passes
  await runOps(ops("run:a:0 load:b:1 run:b:1 unload:b:1"), ctx, 0);
  await runOps(ops("unload:a:0"), ctx, 0);
  assert.deepEqual(loads.map((r) => [r.name, r.transient]), [["a", false], ["b", true]]);
});
