import assert from "node:assert/strict";
import { createReport } from "./report.ts";
import type { Plan } from "./types.ts";

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
