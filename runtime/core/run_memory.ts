/**
 * One memory budget for the whole run: what the process adds over its RSS at the start of the run (its
 * "base"), all stages together, lanes, working memory and staged outputs included, measured from
 * /proc/self/status with nothing subtracted. The run keeps one {@link RunMemory}: it measures the base, each
 * lane's start-up, the run's peak (VmHWM, kept across the windows that {@link RunMemory.window} opens), and
 * hands each stage's planner the bytes that are left.
 *
 * @module
 */
import { BudgetError, formatBytes } from "./errors.ts";
import { collectGarbage, mallocTrim, peakRssBytes, resetPeakRss, rssBytes } from "./memory.ts";
import { planStage } from "./stage.ts";
import type { Budget, Executor, MemoryScheduler, Plan, RunEvent, StageInfo, StageName } from "./types.ts";

/** What a stage measured: its plan(s), its own peak over the run's base, and any re-plan. */
export interface StageMemory {
  stage: StageName;
  /** The bytes the stage's (first) plan was given, the lanes it started excluded. */
  plannedBytes: number | null;
  /** Fixed costs the runtime took out of the budget before planning (outputs, copies), bytes. */
  fixedBytes: number;
  /** Added RSS over the run's base when the stage started, bytes. */
  startAddedBytes: number;
  /** Peak added RSS over the run's base while the stage ran, bytes. */
  peakAddedBytes: number;
  /** The stage's own budget (`budget: { text, denoiser, vae }`), when set. */
  stageBudgetBytes: number | null;
  /** Notes: a re-plan with its reason, a VAE micro-batch shrunk to fit. */
  notes: string[];
  /** The first plan's shape and, after a re-plan, the final one. */
  firstPlan: PlanSummary;
  finalPlan: PlanSummary;
}

/** A plan's shape, for the report. */
export interface PlanSummary {
  scheduler: string;
  lanes: number;
  resident: number;
  prefetch: number;
  peakBytes: number;
  budgetBytes: number | null;
}

/** The report's `memory.run`. */
export interface RunMemoryReport {
  budgetBytes: number | null;
  /** Where a fraction budget came from (the bytes of the stages it is a fraction of). */
  stageBytes: number;
  startRssBytes: number;
  peakRssBytes: number;
  /** peakRssBytes − startRssBytes: the figure the budget bounds. */
  addedPeakBytes: number;
  withinBudget: boolean | null;
  /** Measured start-up of each lane, in start order, bytes. */
  laneBytes: number[];
  stages: StageMemory[];
}

/**
 * The summary of a plan (lanes, resident blocks, the prefetch its streaming lanes give).
 *
 * @example
 * ```ts ignore
 * summarize(plan).resident; // blocks kept across passes
 * ```
 */
export function summarize(plan: Plan): PlanSummary {
  const streams = plan.pass.some((op) => op.op === "unload");
  return {
    scheduler: plan.scheduler,
    lanes: plan.lanes,
    resident: plan.resident.length,
    prefetch: streams ? plan.lanes - 1 : 0,
    peakBytes: plan.peakBytes,
    budgetBytes: plan.budgetBytes,
  };
}

/**
 * The run's memory: base RSS, budget, lanes, peaks.
 *
 * @example
 * ```ts
 * import { RunMemory } from "./run_memory.ts";
 * const memory = new RunMemory(512 * 2 ** 20);
 * console.assert(memory.left()! <= 512 * 2 ** 20);
 * ```
 */
export class RunMemory {
  /** The process's RSS when the run started (freed heap handed back first), bytes. */
  readonly startRssBytes: number;
  /** The budget on added RSS; null = unlimited. */
  readonly budgetBytes: number | null;
  /** Measured start-up of each lane started through {@link startLanes}, bytes. */
  readonly laneBytes: number[] = [];
  readonly stages: StageMemory[] = [];
  /** The machine's available memory when the run started (handed to planners; they never measure it). */
  readonly availableBytes: number | undefined;
  #peak: number;
  #windows = new Set<{ max: number }>();

  constructor(budgetBytes: number | null, availableBytes?: number) {
    mallocTrim();
    this.#peak = peakRssBytes();
    resetPeakRss();
    this.startRssBytes = rssBytes();
    this.#peak = this.startRssBytes;
    this.budgetBytes = budgetBytes;
    this.availableBytes = availableBytes;
  }

  /** RSS added over the base now (freed heap handed back first), bytes. */
  added(): number {
    mallocTrim();
    return Math.max(0, rssBytes() - this.startRssBytes);
  }

  /** RSS added over the base now, as it is (no heap handed back first: what a running plan holds), bytes. */
  current(): number {
    return Math.max(0, rssBytes() - this.startRssBytes);
  }

  /** The run's peak RSS so far (all windows), bytes. */
  peakRss(): number {
    this.#peak = Math.max(this.#peak, peakRssBytes());
    return this.#peak;
  }

  /** Peak added RSS over the base so far, bytes. */
  peakAdded(): number {
    return Math.max(0, this.peakRss() - this.startRssBytes);
  }

  /**
   * Open a measuring window: the peak added RSS over the base from now on, read by the returned function.
   * Windows nest: opening one resets the kernel's mark (VmHWM) after folding it into the run's peak and
   * into every open window's.
   */
  window(): () => number {
    const hwm = this.peakRss();
    for (const w of this.#windows) w.max = Math.max(w.max, hwm);
    resetPeakRss();
    const w = { max: rssBytes() };
    this.#windows.add(w);
    return () => {
      w.max = Math.max(w.max, peakRssBytes());
      return Math.max(0, w.max - this.startRssBytes);
    };
  }

  /** Budget left now: the budget less what the run holds (measured); null = unlimited. */
  left(): number | null {
    return this.budgetBytes === null ? null : this.budgetBytes - this.added();
  }

  /** Lanes started so far. */
  get lanesRunning(): number {
    return this.laneBytes.length;
  }

  /**
   * What one more lane is taken to cost: the most a started lane measured (the first one pays for the
   * shared library too, so this bounds the others), or `firstLane` before any started.
   */
  nextLaneBytes(firstLane = 0): number {
    return this.laneBytes.length ? Math.max(...this.laneBytes) : firstLane;
  }

  /**
   * Start lanes up to `lanes` on `executor` and measure what they added (each new lane gets an equal
   * share of the measured growth).
   */
  async startLanes(executor: Executor, lanes: number): Promise<void> {
    const want = Math.max(1, lanes);
    if (want <= this.laneBytes.length) return executor.start(want);
    const before = this.added();
    await executor.start(want);
    const grown = Math.max(0, this.added() - before);
    const count = want - this.laneBytes.length;
    for (let i = 0; i < count; i++) this.laneBytes.push(Math.ceil(grown / count));
  }

  /**
   * The budget a stage's planner gets: what is left of the run's budget (and of the stage's own), less
   * `fixedBytes` the stage adds outside its blocks; with the lane start-up the planner must pay for.
   */
  planBudget(fixedBytes: number, stageLeft: number | null = null): Budget {
    const left = this.left();
    const caps = [left, stageLeft].filter((v): v is number => v !== null);
    if (caps.length === 0) return { bytes: null, availableBytes: this.availableBytes };
    return {
      availableBytes: this.availableBytes,
      bytes: Math.min(...caps) - fixedBytes,
      laneBytes: this.nextLaneBytes(),
      lanesRunning: this.lanesRunning,
    };
  }

  /**
   * Throw the run's BudgetError when `needed` added bytes cannot fit (before any work: preflight).
   */
  require(what: string, needed: number): void {
    if (this.budgetBytes === null || needed <= this.budgetBytes) return;
    throw new BudgetError(
      `Cannot run within the memory budget: ${what} needs ${formatBytes(needed)} over the process's ` +
        `${formatBytes(this.startRssBytes)} at start, the budget is ${formatBytes(this.budgetBytes)}`,
      needed,
      this.budgetBytes,
    );
  }

  /** The report's `memory.run`. */
  report(stageBytes: number): RunMemoryReport {
    const peak = this.peakRss();
    const added = peak - this.startRssBytes;
    return {
      budgetBytes: this.budgetBytes,
      stageBytes,
      startRssBytes: this.startRssBytes,
      peakRssBytes: peak,
      addedPeakBytes: added,
      withinBudget: this.budgetBytes === null ? null : added <= this.budgetBytes,
      laneBytes: [...this.laneBytes],
      stages: this.stages,
    };
  }
}

/** A stage's memory bookkeeping: its budget source, its peak, and what it records in the run's report. */
export interface OpenStageMemory {
  /** The budget for a plan of this stage, `fixedBytes` (outputs, copies) taken out. */
  budgetFor(fixedBytes: number): Budget;
  /** The peak added RSS over the run's base since the stage started. */
  peak(): number;
  /** Added RSS over the run's base when the stage started. */
  startAdded: number;
  notes: string[];
  /** The fixed bytes the stage's first plan was given less. */
  fixed: number;
  /** Record the stage (its first and last plan, its peak) in the run's memory. */
  finish(plans: readonly Plan[]): void;
}

/**
 * Start a stage's memory bookkeeping; `stageBudget` bounds what the stage adds over its start.
 *
 * @example
 * ```ts ignore
 * const s = openStageMemory(memory, "text", undefined);
 * const budget = s.budgetFor(outputBytes);
 * ```
 */
export function openStageMemory(
  memory: RunMemory,
  stage: StageName,
  stageBudget: number | undefined,
): OpenStageMemory {
  const startAdded = memory.added();
  let peak = memory.window();
  let best = 0;
  const notes: string[] = [];
  let planned: number | null | undefined;
  const record: OpenStageMemory = {
    startAdded,
    notes,
    fixed: 0,
    budgetFor(fixedBytes) {
      const stageLeft = stageBudget === undefined ? null : stageBudget - (memory.added() - startAdded);
      const b = memory.planBudget(fixedBytes, stageLeft);
      if (planned === undefined) [planned, record.fixed] = [b.bytes, fixedBytes];
      return b;
    },
    peak() {
      best = Math.max(best, peak());
      return best;
    },
    finish(plans) {
      const peakAdded = record.peak();
      memory.stages.push({
        stage,
        plannedBytes: planned ?? null,
        fixedBytes: record.fixed,
        startAddedBytes: startAdded,
        peakAddedBytes: peakAdded,
        stageBudgetBytes: stageBudget ?? null,
        notes,
        firstPlan: summarize(plans[0]),
        finalPlan: summarize(plans[plans.length - 1]),
      });
      peak = () => best;
    },
  };
  return record;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The most working memory any block of the stage needs, bytes. */
function largestWork(stage: StageInfo): number {
  return Math.max(0, ...stage.blocks.map((b) => b.workBytes));
}

/** Whether two plans keep as many blocks, on as many lanes, with the same prefetch. */
function sameShape(x: Plan, y: Plan): boolean {
  const [a, b] = [summarize(x), summarize(y)];
  return a.resident === b.resident && a.lanes === b.lanes && a.prefetch === b.prefetch;
}

/**
 * The budget of an adaptive stage's first pass: the least that the scheduler plans the stage with (one
 * block at a time, when it streams), so that each block's load and run is measured alone. It starts from
 * the largest block plus the largest working memory (a lane keeps its largest run's working memory, as
 * the schedulers count it) and the first lane, and takes the scheduler's own need where that is more (its
 * BudgetError names it). A scheduler that cannot plan within the whole budget gets the whole budget (its
 * plan then refuses the stage before any work).
 *
 * @example
 * ```ts ignore
 * const first = firstPassBudget(scheduler, info, memory.planBudget(0));
 * planStage(scheduler, info, first).resident.length; // 0 for a streaming scheduler
 * ```
 */
export function firstPassBudget(scheduler: MemoryScheduler, info: StageInfo, full: Budget): Budget {
  if (full.bytes === null || info.blocks.length === 0) return full;
  const laneFirst = (full.lanesRunning ?? 0) >= 1 ? 0 : full.laneBytes ?? 0;
  let bytes = Math.max(...info.blocks.map((b) => b.bytes)) + largestWork(info) + laneFirst;
  // twice at most: the scheduler's stated need either plans or the scheduler cannot stream this stage
  for (let attempt = 0; attempt < 2 && bytes < full.bytes; attempt++) {
    try {
      planStage(scheduler, info, { ...full, bytes });
      return { ...full, bytes };
    } catch (e) {
      if (!(e instanceof BudgetError)) throw e;
      if (!(e.neededBytes > bytes)) break;
      bytes = e.neededBytes;
    }
  }
  return full;
}

/**
 * Measure, then adapt (On-device Sora §6.2's dynamic loading) for a stage of many passes. The first pass
 * runs the smallest plan the scheduler makes (one block at a time, when it streams), and each block's load
 * and run is measured alone: its peak over what the stage held before it. After that pass the stage is
 * re-planned with the measured block costs against the budget less the most the stage held between
 * blocks (lanes, outputs, allocator slack: measured, not estimated): more resident blocks and prefetch when
 * they fit, fewer when the estimates were short. A scheduler that does not stream (resident) plans once
 * with the whole budget, and its first pass is checked as a whole.
 *
 * @example
 * ```ts ignore
 * const a = adaptiveStage(memory, stageMemory, scheduler, info, fixedBytes);
 * const runner = await openStage({ ...options, budget: a.firstBudget, adapt: a.adapt,
 *   emit: (e) => { a.observe(e); emit(e); } });
 * a.begin();
 * ```
 */
export function adaptiveStage(
  memory: RunMemory,
  stageMemory: OpenStageMemory,
  scheduler: MemoryScheduler,
  info: StageInfo,
  fixedBytes: number,
): {
  firstBudget: Budget;
  begin(): void;
  observe(e: RunEvent): void;
  adapt(o: { pass: number; plan: Plan; stage: StageInfo }): Plan | null;
} {
  const full = stageMemory.budgetFor(fixedBytes);
  const firstBudget = firstPassBudget(scheduler, info, full);
  const cost = new Map<string, number>();
  let outside = 0;
  let predicted = 0;
  let lastPeak = -1;
  let between = 0;
  let base = 0;
  let window = () => 0;
  let passPeak = () => 0;
  /** The plan the first pass ran (one block at a time): the fallback when no plan fits what is left. */
  let least: Plan | null = null;
  // Between blocks: what the stage holds as the plan runs (the lanes keep freed heap); a block's cost: its
  // load and run over a trimmed heap (so that heap its predecessor freed does not hide what it needs).
  const begin = () => {
    between = Math.max(between, memory.current());
    base = memory.added();
    window = memory.window();
  };
  return {
    firstBudget,
    begin,
    observe(e) {
      if (full.bytes === null || e.type !== "block" || e.stage !== info.stage || e.pass !== 0) return;
      if (e.op !== "unload") return;
      const peak = window();
      cost.set(e.block, Math.max(0, peak - base));
      const limit = full.bytes + stageMemory.fixed + stageMemory.startAdded;
      if (peak > limit) {
        // the smallest plan is already over: stop at this block rather than finish the pass
        throw new BudgetError(
          `Cannot keep stage '${info.stage}' within the memory budget: one block at a time, block '${e.block}' ` +
            `took the run to ${mib(peak)} over its start, over the ${mib(limit)} it may add`,
          peak,
          limit,
        );
      }
      begin();
    },
    adapt({ pass, plan, stage }) {
      if (full.bytes === null) return null;
      collectGarbage();
      // The limit: what the first budget was given less (fixed bytes, what the run held at the start).
      const limit = full.bytes + stageMemory.fixed + stageMemory.startAdded;
      const measured = stageMemory.peak();
      if (pass === 0) {
        least = plan;
        const next = afterFirst(plan, stage, measured, limit);
        passPeak = memory.window();
        return next;
      }
      // this pass's own peak (a window per pass): the stage's peak never comes down after a re-plan
      const own = passPeak();
      passPeak = memory.window();
      return watch(plan, stage, own, limit, pass);
    },
  };

  /** Measured block costs (their own bytes: the measured peak less the planned working memory). */
  function measuredBlocks(stage: StageInfo) {
    return stage.blocks.map((
      b,
    ) => (cost.has(b.name) ? { ...b, bytes: Math.max(b.bytes, cost.get(b.name)! - b.workBytes) } : b));
  }

  /** The scheduler's plan for `bytes` of weights and working memory, or a BudgetError naming `why`. */
  function replan(stage: StageInfo, bytes: number, why: string): Plan {
    try {
      return planStage(scheduler, { ...stage, blocks: measuredBlocks(stage) }, {
        availableBytes: memory.availableBytes,
        bytes,
        laneBytes: memory.nextLaneBytes(),
        lanesRunning: memory.lanesRunning,
      });
    } catch (e) {
      if (!(e instanceof BudgetError)) throw e;
      throw new BudgetError(
        `Cannot keep stage '${stage.stage}' within the memory budget: ${why}, and no plan fits what is left: ${e.message}`,
        e.neededBytes,
        e.budgetBytes,
        { cause: e },
      );
    }
  }

  function afterFirst(plan: Plan, stage: StageInfo, measured: number, limit: number): Plan | null {
    const streamed = stage.blocks.every((b) => cost.has(b.name));
    const lanesPaid = Math.max(0, plan.lanes - (firstBudget.lanesRunning ?? 0)) *
      (firstBudget.laneBytes ?? 0);
    outside = streamed ? Math.max(between, memory.current()) : measured - (plan.peakBytes - lanesPaid);
    const most = Math.max(0, ...[...cost.values()]);
    const reserve = largestWork(stage);
    const reason = `pass 1 added ${mib(measured)} over the run's start` +
      (streamed ? ` (one block at a time; the largest block took ${mib(most)} loaded and running)` : "") +
      `, ${mib(outside)} held outside the blocks (estimated ${
        mib(stageMemory.fixed + stageMemory.startAdded)
      }), ${mib(reserve)} kept in reserve`;
    // Heap the one-lane first pass could not see: a wider plan's other lanes each keep a heap of up to one
    // block's working memory between runs, and the allocators grow in steps (measured on the XL bench: a
    // stage grew 40 MiB in one pass after a re-plan). `reserve` (one block's working memory) stays free.
    let next: Plan;
    try {
      next = replan(
        stage,
        limit - outside - reserve,
        `its first pass added ${mib(measured)} over the run's start, ${
          mib(outside)
        } of it outside the blocks, ${mib(reserve)} kept in reserve`,
      );
    } catch (e) {
      // The first pass held (a block over the limit stops it): when the measured costs leave no room for
      // another plan, the one that just ran is still one that holds.
      if (!(e instanceof BudgetError) || measured > limit) throw e;
      stageMemory.notes.push(`${reason}; no other plan fits what is left: the first plan holds`);
      predicted = measured;
      return null;
    }
    predicted = outside + next.peakBytes;
    return switchTo(plan, next, reason);
  }

  /**
   * After later passes: the pass's peak against the re-plan's prediction, and its growth over the pass
   * before (heap the allocators keep). When the next pass could cross the limit at that growth, re-plan
   * with the budget less the measured excess and that growth.
   */
  function watch(plan: Plan, stage: StageInfo, measured: number, limit: number, pass: number): Plan | null {
    // right after a switch the last pass ran another plan: its growth is not this plan's
    const growth = lastPeak < 0 ? 0 : Math.max(0, measured - lastPeak);
    lastPeak = measured;
    if (measured + growth <= limit) return null;
    // what the pass held beyond what its plan counts (against the plan's own figure, not the last
    // prediction: that one already took in the excess a re-plan measured, and would hide it)
    const excess = Math.max(0, measured - outside - plan.peakBytes);
    const bytes = limit - outside - excess - growth;
    let next: Plan;
    try {
      next = replan(stage, bytes, `pass ${pass + 1} peaked at ${mib(measured)} over the run's start`);
    } catch (e) {
      // back to the plan of the first pass (one block at a time, measured within the limit) rather than
      // refusing the rest of the run; refuse only when that plan is the one running
      if (!(e instanceof BudgetError) || least === null) throw e;
      if (sameShape(least, plan)) {
        // nothing runs in less: go on while the measured peak holds (the growth is a forecast)
        if (measured > limit) throw e;
        stageMemory.notes.push(
          `pass ${pass + 1} peaked at ${mib(measured)}, ${mib(growth)} more than the pass before; no plan ` +
            `runs in less, so it goes on`,
        );
        return null;
      }
      next = least;
    }
    const said = predicted;
    predicted = outside + excess + next.peakBytes;
    return switchTo(
      plan,
      next,
      `pass ${pass + 1} peaked at ${mib(measured)} (the plan said ${mib(said)}; it grew ${
        mib(growth)
      } in the last pass)`,
    );
  }

  function switchTo(plan: Plan, next: Plan, reason: string): Plan | null {
    const a = summarize(plan);
    const b = summarize(next);
    if (sameShape(plan, next)) {
      stageMemory.notes.push(`${reason}; the plan holds (${a.resident} resident, prefetch ${a.prefetch})`);
      return null;
    }
    stageMemory.notes.push(
      `${reason}; re-planned from ${a.resident} resident blocks, prefetch ${a.prefetch} to ${b.resident}, ` +
        `prefetch ${b.prefetch}`,
    );
    lastPeak = -1;
    return next;
  }
}
