import assert from "node:assert/strict";
import { createReport } from "./report.ts";
import type { Plan } from "../core/types.ts";

Deno.test("createReport() folds stage, block, step, decision and memory events into the report", () => {
  const report = createReport(performance.now());
  report.emit({ type: "stage", stage: "denoiser", status: "start", at: 0 });
  for (
    const [op, start, end] of [["load", 0, 5], ["run", 5, 9], ["run", 9, 12], ["unload", 12, 13]] as const
  ) {
    report.emit({
      type: "block",
      stage: "denoiser",
      block: "spatial_00",
      index: 1,
      count: 3,
      op,
      lane: 0,
      pass: 0,
      start,
      end,
    });
  }
  report.emit({ type: "step", step: 0, total: 2, t: 1000, calls: 1, etaMs: 10 });
  report.emit({ type: "decision", sampler: "lpl", step: 1, message: "leap", data: { cosine: 0.99 } });
  report.emit({ type: "memory", rssBytes: 5e8, residentBytes: 2e8, budgetBytes: 3e8, at: 1 });
  report.emit({ type: "memory", rssBytes: 4e8, residentBytes: 2.5e8, budgetBytes: 3e8, at: 2 });
  report.emit({ type: "stage", stage: "denoiser", status: "end", at: 0 });
  const plan: Plan = {
    scheduler: "resident",
    stage: "denoiser",
    lanes: 1,
    resident: ["spatial_00"],
    setup: [],
    pass: [],
    teardown: [],
    peakBytes: 10,
    budgetBytes: 3e8,
  };
  report.addPlan("denoiser", plan);
  report.warn("prompt 1 was truncated");
  report.setBudgetSource({ from: "recipe" });
  const r = report.build({
    recipe: { steps: 2 },
    bundle: { name: "tiny" },
    prompts: ["p"],
    seed: 1,
    video: { height: 64, width: 64, frames: 17, fps: 8 },
    timesteps: [1000, 500],
    calls: 2,
    outputs: [{ mp4: "/x.mp4" }],
    peakRssBytes: 4.5e8,
  });
  assert.equal(r.schema, "odsora.report/1");
  assert.deepEqual(r.blocks["denoiser/spatial_00"], {
    load: { count: 1, ms: 5 },
    run: { count: 2, ms: 7 },
    unload: { count: 1, ms: 1 },
  });
  assert.equal(r.timeline.length, 4);
  assert.ok(r.stages.denoiser && r.stages.denoiser.ms >= 0);
  assert.deepEqual(r.steps.map((s) => s.t), [1000]);
  assert.deepEqual(r.decisions, [{ sampler: "lpl", step: 1, message: "leap", data: { cosine: 0.99 } }]);
  assert.deepEqual(r.memory, {
    peakRssBytes: 5e8,
    maxResidentBytes: 2.5e8,
    budgets: { denoiser: 3e8 },
    budgetSource: { from: "recipe" },
  });
  assert.deepEqual(r.plans, [{ stage: "denoiser", plan }]);
  assert.deepEqual(r.warnings, ["prompt 1 was truncated"]);
  assert.deepEqual(JSON.parse(JSON.stringify(r)).outputs, [{ mp4: "/x.mp4" }]);
});

Deno.test("report counts denoiser loads per step and folds the step cache's decisions", () => {
  const report = createReport(performance.now());
  const block = (op: "load" | "run", pass: number, name: string) =>
    report.emit({
      type: "block",
      stage: "denoiser",
      block: name,
      index: 0,
      count: 3,
      op,
      lane: 0,
      pass,
      start: 0,
      end: 1,
    });
  const step = (s: number, reused: boolean) =>
    report.emit({ type: "step", step: s, total: 2, t: 1000 - s, calls: s + 1, etaMs: null, reused });
  block("load", 0, "a");
  block("load", 0, "b");
  block("run", 0, "a");
  report.emit({ type: "cache", cache: "c", step: 0, call: 0, reused: false, reason: "first" });
  step(0, false);
  block("run", 1, "a");
  report.emit({ type: "cache", cache: "c", step: 1, call: 1, reused: true, reason: "small change" });
  step(1, true);
  const r = report.build({
    recipe: {},
    bundle: {},
    prompts: [],
    seed: 0,
    video: { height: 1, width: 1, frames: 1, fps: 1 },
    timesteps: [1000, 999],
    calls: 2,
    outputs: [],
    peakRssBytes: 0,
  });
  assert.deepEqual(r.steps.map((s) => [s.loads, s.reused]), [[2, false], [0, true]]);
  assert.deepEqual(r.cache, {
    name: "c",
    computed: 1,
    reused: 1,
    decisions: [
      { step: 0, call: 0, reused: false, reason: "first" },
      { step: 1, call: 1, reused: true, reason: "small change" },
    ],
  });
});
