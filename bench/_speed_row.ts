/**
 * One speed/memory row of the bench: the denoiser stage of a bundle with a sampler, token ops and a
 * memory scheduler on a fresh local executor, timed from events. The row's peak RSS is the process's
 * high-water mark reset at its start (/proc/self/clear_refs), after the previous row's memory was trimmed.
 *
 * @module
 */
import { type Bundle, stageOf } from "../runtime/bundle/bundle.ts";
import { denoise } from "../runtime/core/denoise.ts";
import { local } from "../runtime/local/executor_local.ts";
import { availableBytes } from "../runtime/core/memory.ts";
import {
  adaptiveStage,
  openStageMemory,
  RunMemory,
  type RunMemoryReport,
} from "../runtime/core/run_memory.ts";
import { openStage } from "../runtime/core/stage.ts";
import type { DenoiseInputs as CoreDenoiseInputs } from "../runtime/core/denoise.ts";
import type {
  MemoryScheduler,
  Plan,
  RunEvent,
  Sampler,
  StepCache,
  Tensor,
  TokenOp,
} from "../runtime/core/types.ts";
import { setupSpan, timelineOf } from "./timeline.ts";

/** The denoiser inputs every row shares. */
export interface DenoiseInputs extends CoreDenoiseInputs {
  cfgScale: number;
}

/** What a row runs. */
export interface RowPlugins {
  sampler: Sampler;
  tokenOps: TokenOp[];
  scheduler: MemoryScheduler;
  budgetBytes: number | null;
  stepCache?: StepCache | null;
}

/** A measured row. */
export interface RowRun {
  latent: Tensor<"float32">;
  calls: number;
  plan: Plan;
  events: RunEvent[];
  /** Passes only (the resident blocks' one-time setup loading excluded), seconds. */
  denoiseS: number;
  /** Executor start, planning, setup, passes, teardown and executor close, seconds. */
  totalS: number;
  peakRssBytes: number;
  /** RSS when the row started (the process without any block loaded). */
  startRssBytes: number;
  /** The row's run memory: budget, lanes, first and final plan, re-plan notes (runtime/core/run_memory.ts). */
  memory: RunMemoryReport;
  leapStep: number | null;
  /** Model calls a step cache reused. */
  reusedCalls: number;
  /** Denoiser block loads during the passes that reused / computed (setup loads excluded). */
  loadsReused: number;
  loadsComputed: number;
}

/**
 * Run one row.
 *
 * @example
 * ```ts ignore
 * const r = await runRow(bundle, { sampler, tokenOps: [], scheduler, budgetBytes: null }, inputs, { threads: 2 });
 * ```
 */
export async function runRow(
  bundle: Bundle,
  plugins: RowPlugins,
  inputs: DenoiseInputs,
  options: {
    threads: number;
    workBytes?: Readonly<Record<string, number>>;
    /** The local executor's `prepack` (default `kept`: pre-pack the blocks a plan keeps, stream the rest unpacked). */
    prepack?: boolean | "kept";
  },
): Promise<RowRun> {
  // One budget for the row: what it adds over the RSS at its start, lanes and all (runtime/core/run_memory.ts).
  const memory = new RunMemory(plugins.budgetBytes, availableBytes());
  const events: RunEvent[] = [];
  const emit = (e: RunEvent) => void events.push(e);
  const origin = performance.now();
  const executor = local.create(
    local.options.parse({ threads: options.threads, prepack: options.prepack ?? "kept" }),
  );
  let run: { latent: Tensor<"float32">; calls: number };
  let plan: Plan;
  let passesMs: number;
  try {
    const stageMemory = openStageMemory(memory, "denoiser", undefined);
    const blocks = stageOf(bundle, "denoiser").blocks.map((b) => ({
      name: b.name,
      bytes: b.bytes,
      workBytes: options.workBytes?.[b.name] ?? 0,
    }));
    const passes = inputs.timesteps.length;
    const adaptive = adaptiveStage(memory, stageMemory, plugins.scheduler, {
      stage: "denoiser",
      blocks,
      passes,
    }, 0);
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor,
      scheduler: plugins.scheduler,
      budget: adaptive.firstBudget,
      passes,
      workBytes: options.workBytes,
      emit: (e) => {
        adaptive.observe(e);
        emit(e);
      },
      origin,
      startLanes: (lanes) => memory.startLanes(executor, lanes),
      adapt: adaptive.adapt,
    });
    adaptive.begin();
    plan = runner.plan;
    try {
      const started = performance.now();
      run = await denoise({
        bundle,
        runner,
        sampler: plugins.sampler,
        tokenOps: plugins.tokenOps,
        stepCache: plugins.stepCache ?? null,
        ...inputs,
        emit,
      });
      passesMs = performance.now() - started;
    } finally {
      await runner.close();
    }
    plan = runner.plan;
    stageMemory.finish(runner.plans ?? [runner.plan]);
  } finally {
    await executor.close();
  }
  const totalS = (performance.now() - origin) / 1000;
  const setup = setupSpan(timelineOf(events), plan.resident);
  const leap = events.find((e) => e.type === "decision" && e.data?.leap === true);
  const reused = new Set(events.flatMap((e) => (e.type === "cache" && e.reused ? [e.call] : [])));
  const loads = timelineOf(events).filter((o) => o.op === "load" && !plan.resident.includes(o.block));
  return {
    ...run,
    plan,
    events,
    denoiseS: (passesMs - (setup ? setup.end - setup.start : 0)) / 1000,
    totalS,
    peakRssBytes: memory.peakRss(),
    startRssBytes: memory.startRssBytes,
    memory: memory.report(stageOf(bundle, "denoiser").blocks.reduce((a, b) => a + b.bytes, 0)),
    leapStep: leap && leap.type === "decision" ? leap.step : null,
    reusedCalls: reused.size,
    loadsReused: loads.filter((o) => reused.has(o.pass)).length,
    loadsComputed: loads.filter((o) => !reused.has(o.pass)).length,
  };
}
