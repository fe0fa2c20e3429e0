import assert from "node:assert/strict";
import { BudgetError, PluginError, StageError } from "./errors.ts";
import { local } from "../local/executor_local.ts";
import { openStage } from "./stage.ts";
import { relL2 } from "./tensor.ts";
import type { Executor, MemoryScheduler, RunEvent, Tensor } from "./types.ts";
import { resident, sequential } from "../../schedulers/mod.ts";
import { loadToy } from "../../tests/_toy.ts";
import { instantiate } from "./registry.ts";

const newExecutor = () => local.create({ threads: 1, arena: false, trim: true });

Deno.test("openStage() runs resident and sequential plans to bit-equal outputs that match torch", async () => {
  const { bundle, expected, call0 } = await loadToy();
  const exec = newExecutor();
  const outs: Float32Array[] = [];
  try {
    for (const def of [resident, sequential]) {
      const events: RunEvent[] = [];
      const runner = await openStage({
        bundle,
        stage: "denoiser",
        executor: exec,
        scheduler: instantiate(def),
        budget: { bytes: null },
        passes: 2,
        emit: (e) => events.push(e),
      });
      for (const pass of [0, 1]) {
        const env = await runner.run(call0, pass);
        assert.ok(relL2(env.out, expected["call0.out"]) < 1e-6);
        outs.push(env.out.data as Float32Array);
      }
      await runner.close();
      const blocks = events.filter((e): e is Extract<RunEvent, { type: "block" }> => e.type === "block");
      const count = (op: string) => blocks.filter((e) => e.op === op).length;
      assert.equal(count("run"), 8);
      assert.equal(count("load"), def === resident ? 4 : 8);
      assert.equal(count("unload"), count("load"));
      assert.deepEqual(blocks.filter((e) => e.op === "run" && e.pass === 1).map((e) => e.index), [
        0,
        1,
        2,
        3,
      ]);
      assert.ok(events.some((e) => e.type === "memory" && e.rssBytes > 0));
      assert.equal((await exec.memory()).residentBytes, 0);
    }
    for (const o of outs.slice(1)) assert.deepEqual(o, outs[0]);
  } finally {
    await exec.close();
  }
});

Deno.test("openStage() throws BudgetError before starting any lane", async () => {
  const { bundle } = await loadToy();
  let started = false;
  const exec: Executor = {
    ...(newExecutor() as Executor),
    start: () => Promise.resolve(void (started = true)),
  };
  await assert.rejects(
    openStage({
      bundle,
      stage: "denoiser",
      executor: exec,
      scheduler: instantiate(sequential),
      budget: { bytes: 1000 },
      passes: 1,
      emit: () => {},
    }),
    (e) =>
      e instanceof BudgetError &&
      /Cannot plan stage 'denoiser' with scheduler 'sequential': block 'embed'/.test(e.message),
  );
  assert.equal(started, false);
});

Deno.test("openStage() rejects a plan that skips or reorders blocks, naming the scheduler", async () => {
  const { bundle } = await loadToy();
  const inner = instantiate(resident);
  const bad: MemoryScheduler = {
    name: "backwards",
    kind: "scheduler",
    plan: (s, b) => {
      const p = inner.plan(s, b);
      return { ...p, pass: [...p.pass].reverse() };
    },
  };
  await assert.rejects(
    openStage({
      bundle,
      stage: "denoiser",
      executor: newExecutor(),
      scheduler: bad,
      budget: { bytes: null },
      passes: 1,
      emit: () => {},
    }),
    (e) => e instanceof PluginError && e.plugin === "backwards" && e.hook === "plan",
  );
});

Deno.test("StageRunner.run() names a missing input, then refuses further passes; close() unloads", async () => {
  const { bundle, call0 } = await loadToy();
  const exec = newExecutor();
  try {
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor: exec,
      scheduler: instantiate(resident),
      budget: { bytes: null },
      passes: 2,
      emit: () => {},
    });
    const { merge_t: _drop, ...partial } = call0;
    await assert.rejects(
      runner.run(partial, 0),
      (e) =>
        e instanceof StageError &&
        /Cannot run block 'denoiser\/layer_00': input 'merge_t' is not in the environment/.test(e.message),
    );
    await assert.rejects(runner.run(call0, 1), /an earlier pass failed/);
    await runner.close();
    assert.equal((await exec.memory()).residentBytes, 0);
    await assert.rejects(runner.run(call0, 2), /its runner is closed/);
  } finally {
    await exec.close();
  }
});

Deno.test("StageRunner.run() frees the intermediates a later block replaces, never the caller's inputs", async () => {
  const { bundle, expected, call0 } = await loadToy();
  const exec = newExecutor();
  const produced: { name: string; t: Tensor }[] = [];
  const recording: Executor = {
    name: exec.name,
    kind: exec.kind,
    start: (n) => exec.start(n),
    load: (ref) => exec.load(ref),
    run: async (block, feeds) => {
      const out = await exec.run(block, feeds);
      for (const [name, t] of Object.entries(out)) produced.push({ name, t });
      return out;
    },
    unload: (block) => exec.unload(block),
    memory: () => exec.memory(),
    close: () => exec.close(),
  };
  try {
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor: recording,
      scheduler: instantiate(resident),
      budget: { bytes: null },
      passes: 1,
      emit: () => {},
    });
    const env = await runner.run(call0, 0);
    await runner.close();
    assert.ok(relL2(env.out, expected["call0.out"]) < 1e-6);
    const kept = new Set(Object.values(env));
    const freed = produced.filter((p) => !kept.has(p.t));
    assert.ok(freed.length > 0, "some block output was replaced by a later block");
    for (const p of freed) assert.equal(p.t.data.length, 0, `replaced '${p.name}' is freed`);
    for (const t of kept) assert.ok(t.data.length > 0, "what the pass returns is intact");
    for (const t of Object.values(call0)) assert.ok(t.data.length > 0, "the caller's inputs are intact");
  } finally {
    await exec.close();
  }
});

Deno.test("StageRunner.runPart() runs only the named blocks: first block then the rest equals a full pass", async () => {
  const { bundle, call0 } = await loadToy();
  const exec = newExecutor();
  try {
    const events: RunEvent[] = [];
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor: exec,
      scheduler: instantiate(sequential),
      budget: { bytes: null },
      passes: 2,
      emit: (e) => events.push(e),
    });
    const names = bundle.denoiser!.blocks.map((b) => b.name);
    const full = await runner.run(call0, 0);
    const head = await runner.runPart(call0, 1, new Set(names.slice(0, 1)));
    const rest = await runner.runPart(head, 1, new Set(names.slice(1)));
    assert.deepEqual(rest.out.data, full.out.data);
    const partial = await runner.runPart(head, 2, new Set([names.at(-1)!]));
    assert.ok(partial.out.data.length > 0);
    const touched = events.flatMap((e) => (e.type === "block" && e.pass === 2 ? [e.block] : []));
    assert.deepEqual([...new Set(touched)], [names.at(-1)]);
    await assert.rejects(runner.runPart(call0, 3, new Set(["nope"])), StageError);
    await runner.close();
  } finally {
    await exec.close();
  }
});
