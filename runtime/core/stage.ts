/**
 * A stage runner: plans a stage's blocks with a memory scheduler and runs the plan over a named-tensor
 * environment (export/BUNDLE.md "a stage is a chain"): each block reads its inputs by name from the
 * environment and writes its outputs back.
 *
 * @module
 */
import { blockPath, type Bundle, stageOf } from "./manifest.ts";
import { OdsoraError, PluginError, StageError } from "./errors.ts";
import { releaseTensor } from "./tensor.ts";
import { type PlanRunContext, runOps, unloadAll } from "./plan_runner.ts";
import type { RunContext } from "./run_context.ts";
import type {
  BlockInfo,
  Budget,
  LoadedBlock,
  MemoryScheduler,
  Plan,
  PlanOp,
  StageInfo,
  StageName,
  TensorMap,
} from "./types.ts";

/** Options of {@link openStage}. */
export interface OpenStageOptions extends RunContext {
  bundle: Bundle;
  stage: StageName;
  budget: Budget;
  /** How many passes the run makes at most (the planner may keep blocks resident across them). */
  passes: number;
  /** Working memory of one block inference at this run's shapes: one figure for all, or per block name. */
  workBytes?: number | Readonly<Record<string, number>>;
  /** Blocks whose weights are read sparsely (token embeddings): loaded mapped, not faulted in. */
  sparse?: ReadonlySet<string>;
  /** Bytes a block holds once loaded and run, where not its file bytes (a sparse block's touched rows). */
  blockBytes?: Readonly<Record<string, number>>;
  /**
   * Called after each pass with the plan in use: return a new plan (the stage's next passes use it) or
   * null to keep it. The run's measure-then-adapt step (runtime/core/run_memory.ts) re-plans here.
   */
  adapt?: (info: { pass: number; plan: Plan; stage: StageInfo }) => Plan | null | Promise<Plan | null>;
}

/** A planned stage, ready to run passes. */
export interface StageRunner {
  /** The plan in use (the last one after a re-plan). */
  readonly plan: Plan;
  /** Every plan the stage used, first to last. */
  readonly plans?: readonly Plan[];
  /** Run one pass over the blocks on a copy of `env`; returns the environment after the last block. */
  run(env: TensorMap, pass: number): Promise<TensorMap>;
  /**
   * Run part of pass `pass` on a copy of `env`: only the plan's pass ops on `blocks` (their loads, runs and
   * unloads; a block outside it is neither loaded nor run). Parts of one pass run in stage order.
   */
  runPart(env: TensorMap, pass: number, blocks: ReadonlySet<string>): Promise<TensorMap>;
  /** Run the plan's teardown and unload whatever is still loaded. The executor stays open. */
  close(): Promise<void>;
}

function checkPlan(plan: Plan, names: readonly string[], scheduler: string): void {
  const runs = plan.pass.filter((op) => op.op === "run").map((op) => op.block);
  if (runs.join("\n") !== names.join("\n")) {
    throw new PluginError(
      `Cannot use the plan of scheduler '${scheduler}': a pass runs '${runs.join(",")}', the stage needs '${
        names.join(",")
      }' in that order`,
      scheduler,
      "plan",
    );
  }
  const lanes = [...plan.setup, ...plan.pass, ...plan.teardown].map((op) => op.lane);
  if (lanes.some((l) => !Number.isInteger(l) || l < 0 || l >= plan.lanes)) {
    throw new PluginError(
      `Cannot use the plan of scheduler '${scheduler}': an op uses a lane outside 0..${plan.lanes - 1}`,
      scheduler,
      "plan",
    );
  }
}

/**
 * Ask `scheduler` for the plan of `stage` and stamp on it what the runtime knows: the scheduler's name, the
 * stage, and the budget (unless the planner planned against another figure and said so). Throws the
 * planner's `BudgetError`, or a `PluginError` for a failing planner or a plan that does not run the stage's
 * blocks in order on its own lanes.
 *
 * @example
 * ```ts ignore
 * const plan = planStage(scheduler, { stage: "vae", blocks, passes: 1 }, { bytes: null });
 * plan.scheduler; // the scheduler's name
 * ```
 */
export function planStage(scheduler: MemoryScheduler, stage: StageInfo, budget: Budget): Plan {
  let plan: Plan;
  try {
    const shape = scheduler.plan(stage, budget);
    plan = {
      scheduler: scheduler.name,
      stage: stage.stage,
      ...shape,
      budgetBytes: shape.budgetBytes === undefined ? budget.bytes : shape.budgetBytes,
    };
  } catch (e) {
    if (e instanceof OdsoraError) throw e;
    throw new PluginError(
      `Cannot plan stage '${stage.stage}' with scheduler '${scheduler.name}': ${(e as Error).message}`,
      scheduler.name,
      "plan",
      { cause: e },
    );
  }
  checkPlan(plan, stage.blocks.map((b) => b.name), scheduler.name);
  return plan;
}

/**
 * Plan the stage (BudgetError here, before any work), start the executor's lanes, and return its runner.
 *
 * @example
 * ```ts ignore
 * const runner = await openStage({ bundle, stage: "text", executor, scheduler, budget: { bytes: null },
 *   passes: 1, emit: () => {} });
 * const env = await runner.run({ input_ids, attention_mask }, 0);
 * await runner.close();
 * ```
 */
export async function openStage(options: OpenStageOptions): Promise<StageRunner> {
  const { bundle, stage, executor, scheduler, budget, passes, emit, signal } = options;
  const spec = stageOf(bundle, stage);
  const work = options.workBytes ?? 0;
  const blocks: BlockInfo[] = spec.blocks.map((b) => ({
    name: b.name,
    bytes: options.blockBytes?.[b.name] ?? b.bytes,
    workBytes: typeof work === "number" ? work : work[b.name] ?? 0,
  }));
  const info: StageInfo = { stage, blocks, passes };
  let plan = planStage(scheduler, info, budget);
  signal?.throwIfAborted();
  const startLanes = options.startLanes ?? ((lanes: number) => executor.start(lanes));
  await startLanes(plan.lanes);
  const plans: Plan[] = [plan];

  const byName = new Map(spec.blocks.map((b) => [b.name, b]));
  let env: TensorMap = {};
  /** Env names a block of the current pass has set (their tensors belong to the stage, not the caller). */
  const produced = new Set<string>();
  const ctx: PlanRunContext = {
    stage,
    executor,
    refs: new Map(
      spec.blocks.map((b) => [b.name, {
        stage,
        name: b.name,
        path: blockPath(bundle, b),
        bytes: b.bytes,
        ...(options.sparse?.has(b.name) ? { sparse: true } : {}),
        // under a budget, blocks load and unload as the run measures them (BlockRef.budgeted)
        ...(budget.bytes !== null ? { budgeted: true } : {}),
      }]),
    ),
    order: new Map(spec.blocks.map((b, i) => [b.name, i])),
    loaded: new Map(),
    runBlock: async (loaded: LoadedBlock) => {
      const block = byName.get(loaded.ref.name)!;
      const feeds: TensorMap = {};
      for (const input of block.inputs) {
        const t = env[input.name];
        if (!t) {
          throw new StageError(
            `Cannot run block '${stage}/${block.name}': input '${input.name}' is not in the environment (has '${
              Object.keys(env).join("', '")
            }')`,
            stage,
          );
        }
        feeds[input.name] = t;
      }
      const out = await executor.run(loaded, feeds);
      for (const output of block.outputs) {
        const graphName = output.onnx_name ?? output.name;
        if (!out[graphName]) {
          throw new StageError(
            `Cannot run block '${stage}/${block.name}': it returned no output '${graphName}'`,
            stage,
          );
        }
        const replaced = env[output.name];
        // An intermediate an earlier block of this pass produced (not the caller's input) is garbage now:
        // free it at once rather than at the next collection (a block call's activations are megabytes,
        // outside any memory plan while they wait).
        if (replaced && produced.has(output.name)) releaseTensor(replaced);
        env[output.name] = out[graphName];
        produced.add(output.name);
      }
    },
    emit,
    origin: options.origin ?? performance.now(),
    budgetBytes: budget.bytes,
    signal,
  };
  let setupDone = false;
  /** The setup ops still to run (after a re-plan: the new plan's loads of blocks not already loaded). */
  let setup = plan.setup;
  let broken: unknown = null;
  let closed = false;
  let lastPass = 0;

  /** Switch to `next` between passes: unload what it does not keep, start its lanes, load the rest later. */
  const switchPlan = async (next: Plan, pass: number) => {
    checkPlan(next, spec.blocks.map((b) => b.name), scheduler.name);
    const laneIn = new Map(next.setup.filter((op) => op.op === "load").map((op) => [op.block, op.lane]));
    const keep = new Set(next.resident.filter((b) => ctx.loaded.get(b)?.lane === laneIn.get(b)));
    const unloads = [...ctx.loaded.entries()].filter(([b]) => !keep.has(b))
      .map(([block, e]) => ({ op: "unload" as const, block, lane: e.lane }));
    await runOps(unloads, ctx, pass);
    await startLanes(next.lanes);
    setup = next.setup.filter((op) => !(op.op === "load" && keep.has(op.block)));
    setupDone = false;
    plan = next;
    plans.push(next);
  };

  const runPassOps = async (input: TensorMap, pass: number, ops: readonly PlanOp[]): Promise<TensorMap> => {
    if (closed) throw new StageError(`Cannot run stage '${stage}': its runner is closed`, stage);
    if (broken) {
      throw new StageError(`Cannot run stage '${stage}': an earlier pass failed`, stage, { cause: broken });
    }
    env = { ...input };
    produced.clear();
    lastPass = pass;
    try {
      if (!setupDone) {
        setupDone = true;
        await runOps(setup, ctx, pass);
      }
      await runOps(ops, ctx, pass);
      // The pass is over once its last block ran: the run may re-plan before the next one.
      const lastRun = plan.pass.findLast((op) => op.op === "run");
      if (options.adapt && lastRun && ops.includes(lastRun)) {
        const next = await options.adapt({ pass, plan, stage: info });
        if (next && next !== plan) await switchPlan(next, pass);
      }
    } catch (e) {
      broken = e;
      throw e;
    }
    const result = env;
    env = {};
    return result;
  };

  return {
    get plan() {
      return plan;
    },
    plans,
    run: (input, pass) => runPassOps(input, pass, plan.pass),
    runPart: async (input, pass, blocks) => {
      const unknown = [...blocks].filter((b) => !byName.has(b));
      if (unknown.length > 0) {
        throw new StageError(`Cannot run blocks '${unknown.join("', '")}': stage '${stage}' has none`, stage);
      }
      return await runPassOps(input, pass, plan.pass.filter((op) => blocks.has(op.block)));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        if (setupDone && !broken) await runOps(plan.teardown, { ...ctx, signal: undefined }, lastPass);
      } finally {
        await unloadAll(ctx);
      }
    },
  };
}
