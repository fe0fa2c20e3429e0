/**
 * The batch worker's executor: the `local` executor, kept for the life of the worker process, whose loaded
 * blocks stay loaded between runs (an unload is a no-op), so a worker loads the model once and later items
 * only run it. Used only for recipes without a memory budget (a budget plans loads and unloads, which a
 * cache would defeat). The sessions are the same onnxruntime sessions a run creates, so videos are the
 * same bytes as `deno task run` (tests/batch_test.ts checks it).
 *
 * @module
 */
import { local, type LocalExecutor } from "../runtime/local/executor_local.ts";
import type { BlockRef, Executor, LoadedBlock, PluginDefinition, TensorMap } from "../runtime/core/types.ts";

const bases = new Map<string, Executor>();
const cache = new Map<string, Promise<LoadedBlock>>();
let nextId = 1;
const inner = new Map<number, LoadedBlock>();

/** Block loads the warm executors served from the cache, and those they passed on (for reports). */
export const warmStats = { hits: 0, loads: 0 };

class WarmExecutor implements Executor {
  readonly name = "batch-warm";
  readonly kind = "executor" as const;
  constructor(readonly base: Executor, readonly id: string) {}

  start(lanes: number): Promise<void> {
    return this.base.start(lanes);
  }

  async load(ref: BlockRef): Promise<LoadedBlock> {
    const key = `${this.id}|${ref.path}|${ref.lane}|${ref.transient === true}`;
    let loaded = cache.get(key);
    if (loaded) warmStats.hits++;
    else {
      warmStats.loads++;
      loaded = this.base.load(ref);
      cache.set(key, loaded);
      loaded.catch(() => cache.delete(key));
    }
    const block: LoadedBlock = Object.freeze({ ref, id: nextId++ });
    inner.set(block.id, await loaded);
    return block;
  }

  run(block: LoadedBlock, feeds: TensorMap): Promise<TensorMap> {
    const b = inner.get(block.id);
    return b
      ? this.base.run(b, feeds)
      : Promise.reject(new Error(`Cannot run block '${block.ref.name}': not loaded`));
  }

  unload(block: LoadedBlock): Promise<void> {
    inner.delete(block.id); // the session stays loaded for the next run
    return Promise.resolve();
  }

  memory() {
    return this.base.memory();
  }

  close(): Promise<void> {
    return Promise.resolve(); // closed by closeWarmExecutors() when the worker exits
  }
}

/** The `batch-warm` executor plugin (options: the `local` executor's). */
export const plugin: PluginDefinition<"executor", typeof local.options> = {
  name: "batch-warm",
  kind: "executor",
  options: local.options,
  create(options) {
    const id = JSON.stringify(options);
    let base = bases.get(id);
    if (!base) bases.set(id, base = local.create(options) as LocalExecutor);
    return new WarmExecutor(base, id);
  },
};

/** Close every kept executor (the worker's last act). */
export async function closeWarmExecutors(): Promise<void> {
  for (const base of bases.values()) await base.close();
  bases.clear();
  cache.clear();
  inner.clear();
}
