/**
 * Carries out a scheduler's {@link Plan} ops on an executor. Ops on one lane run in plan order; across
 * lanes a `load` starts as soon as its lane is free (so it overlaps a `run` on another lane), a `run` waits
 * for its block's load and the previous run (the stage is a chain), an `unload` waits for the block's run.
 * After the first failure or an abort, no new load or run starts, but unloads still happen.
 *
 * @module
 */
import type { BlockRef, Emit, Executor, LoadedBlock, PlanOp, StageName } from "./types.ts";
import { StageError } from "./errors.ts";

/** Everything {@link runOps} needs; `loaded` persists across calls (resident blocks). */
export interface PlanRunContext {
  stage: StageName;
  executor: Executor;
  /** Block name → what to load (the lane comes from the op). */
  refs: ReadonlyMap<string, Omit<BlockRef, "lane">>;
  /** Block name → its position in the stage (for events). */
  order: ReadonlyMap<string, number>;
  /** Blocks loaded (or loading), by name. */
  loaded: Map<string, { lane: number; block: Promise<LoadedBlock> }>;
  /** Run one loaded block on the stage environment. */
  runBlock(block: LoadedBlock): Promise<void>;
  emit: Emit;
  /** `performance.now()` at run start: event times are ms since then. */
  origin: number;
  budgetBytes: number | null;
  signal?: AbortSignal;
}

const settled = (p: Promise<unknown> | undefined) => (p ?? Promise.resolve()).then(() => {}, () => {});

/** Throw a StageError (before any work) if `ops` load an unknown block, or use one that is not loaded. */
function checkOps(ops: readonly PlanOp[], ctx: PlanRunContext): void {
  const loaded = new Set(ctx.loaded.keys());
  const fail = (op: PlanOp, why: string) => {
    throw new StageError(`Cannot ${op.op} block '${ctx.stage}/${op.block}': ${why}`, ctx.stage);
  };
  for (const op of ops) {
    if (op.op === "load") {
      if (!ctx.refs.has(op.block)) fail(op, "the stage has no such block");
      if (loaded.has(op.block)) fail(op, "it is already loaded");
      loaded.add(op.block);
    } else if (!loaded.has(op.block)) {
      fail(op, op.op === "run" ? "the plan never loads it" : "it is not loaded");
    } else if (op.op === "unload") {
      loaded.delete(op.block);
    }
  }
}

/**
 * Run `ops` (one plan section) as pass `pass`; resolves when every op finished, rejects with the first
 * failure after all started ops settled.
 *
 * @example
 * ```ts ignore
 * await runOps(plan.setup, ctx, 0);
 * await runOps(plan.pass, ctx, 0);
 * ```
 */
export async function runOps(ops: readonly PlanOp[], ctx: PlanRunContext, pass: number): Promise<void> {
  checkOps(ops, ctx);
  // A block these same ops also unload is loaded for one run: tell the executor (see BlockRef.transient).
  const streamed = new Set(ops.filter((op) => op.op === "unload").map((op) => op.block));
  const tails = new Map<number, Promise<unknown>>();
  const runs = new Map<string, Promise<unknown>>();
  const all: Promise<unknown>[] = [];
  let prevRun: Promise<unknown> = Promise.resolve();
  let failure: { error: unknown } | null = null;
  const count = ctx.order.size;

  const guard = () => {
    if (failure) throw failure.error;
    if (ctx.signal?.aborted) {
      failure = { error: ctx.signal.reason };
      throw ctx.signal.reason;
    }
  };
  const timed = async (op: PlanOp, work: () => Promise<void>) => {
    const start = performance.now() - ctx.origin;
    await work();
    const end = performance.now() - ctx.origin;
    const index = ctx.order.get(op.block) ?? -1;
    ctx.emit({
      type: "block",
      stage: ctx.stage,
      block: op.block,
      index,
      count,
      op: op.op,
      lane: op.lane,
      pass,
      start,
      end,
    });
    if (op.op !== "run") {
      const m = await ctx.executor.memory();
      ctx.emit({
        type: "memory",
        rssBytes: m.rssBytes,
        residentBytes: m.residentBytes,
        budgetBytes: ctx.budgetBytes,
        at: end,
      });
    }
  };
  const fail = (e: unknown) => {
    failure ??= { error: e };
    throw e;
  };

  for (const op of ops) {
    const tail = settled(tails.get(op.lane));
    let p: Promise<unknown>;
    if (op.op === "load") {
      const ref = ctx.refs.get(op.block)!;
      let handle!: LoadedBlock;
      p = tail.then(() => {
        guard();
        return timed(
          op,
          async () =>
            void (handle = await ctx.executor.load({
              ...ref,
              lane: op.lane,
              transient: streamed.has(op.block),
            })),
        );
      }).then(() => handle).catch(fail);
      ctx.loaded.set(op.block, { lane: op.lane, block: p as Promise<LoadedBlock> });
    } else if (op.op === "run") {
      const entry = ctx.loaded.get(op.block)!;
      const before = prevRun;
      p = Promise.all([tail, settled(before)]).then(async () => {
        guard();
        await before;
        const block = await entry.block;
        guard();
        await timed(op, () => ctx.runBlock(block));
      }).catch(fail);
      prevRun = p;
      runs.set(op.block, p);
    } else {
      const entry = ctx.loaded.get(op.block)!;
      ctx.loaded.delete(op.block);
      p = Promise.all([tail, settled(runs.get(op.block)), settled(entry.block)]).then(async () => {
        const block = await entry.block.catch(() => null);
        if (block) await timed(op, () => ctx.executor.unload(block));
      }).catch(fail);
    }
    tails.set(op.lane, p);
    all.push(p);
  }
  await Promise.allSettled(all);
  if (failure) throw (failure as { error: unknown }).error;
}

/** Unload every block still loaded (after a failure or at close), waiting for loads in flight. */
export async function unloadAll(ctx: PlanRunContext): Promise<void> {
  const entries = [...ctx.loaded.values()];
  ctx.loaded.clear();
  await Promise.allSettled(entries.map(async (e) => {
    const block = await e.block.catch(() => null);
    if (block) await ctx.executor.unload(block);
  }));
}
