/**
 * The JSON run report written next to the video: the recipe, the bundle, prompts and seed, timings per
 * stage and per block, peak RSS, the memory plans, the sampler's decisions and steps, warnings and outputs.
 * It is folded from the same run events the progress bar and the UI read.
 *
 * @module
 */
import type { Plan, RunEvent, StageName } from "../core/types.ts";
import type { RunMemoryReport } from "../core/run_memory.ts";

/** Time spent in one kind of block operation. */
export interface OpTotals {
  count: number;
  ms: number;
}

/** The report's JSON shape (`schema: "odsora.report/1"`). */
export interface RunReport {
  schema: "odsora.report/1";
  started: string;
  totalMs: number;
  recipe: Record<string, unknown>;
  bundle: Record<string, unknown>;
  prompts: string[];
  seed: number;
  video: { height: number; width: number; frames: number; fps: number };
  timesteps: number[];
  calls: number;
  stages: Partial<Record<StageName, { startMs: number; endMs: number; ms: number }>>;
  blocks: Record<string, { load: OpTotals; run: OpTotals; unload: OpTotals }>;
  timeline: {
    stage: StageName;
    block: string;
    op: string;
    lane: number;
    pass: number;
    start: number;
    end: number;
  }[];
  /**
   * One entry per step event; with a step cache, `reused` (the call skipped its middle blocks) and, always,
   * `loads`: block loads of the denoiser during the step's model calls.
   */
  steps: {
    step: number;
    total: number;
    t: number;
    calls: number;
    atMs: number;
    loads: number;
    reused?: boolean;
  }[];
  /** The step cache's decisions (absent without one): every call, reused or computed, with its reason. */
  cache?: {
    name: string;
    computed: number;
    reused: number;
    decisions: { step: number; call: number; reused: boolean; reason: string }[];
  };
  decisions: {
    sampler: string;
    step: number;
    message: string;
    data?: Record<string, number | boolean | null>;
  }[];
  memory: {
    peakRssBytes: number;
    maxResidentBytes: number;
    budgets: Partial<Record<StageName, number | null>>;
    /** The run's budget on added RSS, its measured peaks, each stage's plans and re-plans. */
    run?: RunMemoryReport;
    /**
     * Where the budgets came from: `recipe`, `none` (unlimited), or `executor` (the recipe gave none and
     * the executor's device offered its memory; its fields say which device, its figure and the margin).
     */
    budgetSource: { from: "recipe" | "none" | "executor"; [detail: string]: string | number };
  };
  plans: { stage: StageName; plan: Plan }[];
  warnings: string[];
  outputs: Record<string, string>[];
}

/** What the pipeline adds at the end, besides the events. */
export type ReportExtras =
  & Pick<
    RunReport,
    "recipe" | "bundle" | "prompts" | "seed" | "video" | "timesteps" | "calls" | "outputs"
  >
  & { peakRssBytes: number; run?: RunMemoryReport };

const empty = (): OpTotals => ({ count: 0, ms: 0 });

/**
 * Collects events, plans and warnings during a run and builds the {@link RunReport}.
 *
 * @example
 * ```ts
 * import { createReport } from "./report.ts";
 * const report = createReport(performance.now());
 * report.emit({ type: "stage", stage: "text", status: "start", at: 0 });
 * report.emit({ type: "stage", stage: "text", status: "end", at: 12 });
 * ```
 */
export function createReport(origin: number) {
  const started = new Date().toISOString();
  const stages: RunReport["stages"] = {};
  const blocks: RunReport["blocks"] = {};
  const timeline: RunReport["timeline"] = [];
  const steps: RunReport["steps"] = [];
  const decisions: RunReport["decisions"] = [];
  const plans: RunReport["plans"] = [];
  const warnings: string[] = [];
  /** Denoiser block loads per pass (model call). */
  const loadsByPass = new Map<number, number>();
  let cache: RunReport["cache"];
  let maxResident = 0;
  let peakRss = 0;
  let budgetSource: RunReport["memory"]["budgetSource"] = { from: "none" };
  return {
    emit(e: RunEvent): void {
      const now = performance.now() - origin;
      if (e.type === "stage") {
        const s = stages[e.stage] ?? { startMs: now, endMs: now, ms: 0 };
        if (e.status === "start") s.startMs = now;
        else [s.endMs, s.ms] = [now, now - s.startMs];
        stages[e.stage] = s;
      } else if (e.type === "block") {
        const key = `${e.stage}/${e.block}`;
        const totals = blocks[key] ?? (blocks[key] = { load: empty(), run: empty(), unload: empty() });
        totals[e.op].count++;
        totals[e.op].ms += e.end - e.start;
        const { stage, block, op, lane, pass, start, end } = e;
        timeline.push({ stage, block, op, lane, pass, start, end });
        if (stage === "denoiser" && op === "load") loadsByPass.set(pass, (loadsByPass.get(pass) ?? 0) + 1);
      } else if (e.type === "step") {
        const from = steps.at(-1)?.calls ?? 0;
        let loads = 0;
        for (let pass = from; pass < e.calls; pass++) loads += loadsByPass.get(pass) ?? 0;
        const reused = e.reused === undefined ? {} : { reused: e.reused };
        steps.push({ step: e.step, total: e.total, t: e.t, calls: e.calls, atMs: now, loads, ...reused });
      } else if (e.type === "cache") {
        cache ??= { name: e.cache, computed: 0, reused: 0, decisions: [] };
        cache[e.reused ? "reused" : "computed"]++;
        cache.decisions.push({ step: e.step, call: e.call, reused: e.reused, reason: e.reason });
      } else if (e.type === "decision") {
        decisions.push({ sampler: e.sampler, step: e.step, message: e.message, data: e.data });
      } else if (e.type === "memory") {
        maxResident = Math.max(maxResident, e.residentBytes);
        peakRss = Math.max(peakRss, e.rssBytes);
      }
    },
    setBudgetSource(source: RunReport["memory"]["budgetSource"]): void {
      budgetSource = source;
    },
    addPlan(stage: StageName, plan: Plan): void {
      plans.push({ stage, plan });
    },
    warn(message: string): void {
      warnings.push(message);
    },
    get warnings(): readonly string[] {
      return warnings;
    },
    build(extras: ReportExtras): RunReport {
      const budgets: RunReport["memory"]["budgets"] = {};
      for (const { stage, plan } of plans) budgets[stage] = plan.budgetBytes;
      const { peakRssBytes, run, ...rest } = extras;
      return {
        schema: "odsora.report/1",
        started,
        totalMs: performance.now() - origin,
        ...rest,
        stages,
        blocks,
        timeline,
        steps,
        ...(cache ? { cache } : {}),
        decisions,
        memory: {
          peakRssBytes: Math.max(peakRss, peakRssBytes),
          maxResidentBytes: maxResident,
          budgets,
          budgetSource,
          ...(run ? { run } : {}),
        },
        plans,
        warnings: [...warnings],
      };
    },
  };
}
