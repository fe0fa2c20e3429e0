/**
 * The `local` executor plugin: blocks run in onnxruntime-node sessions owned by Deno workers ("lanes",
 * runtime/local/lane_worker.ts), so a session create on one lane overlaps a run on another and the main thread
 * stays free; with `lean`, the first lane's sessions live in the calling thread instead
 * (runtime/local/lane_sessions.ts serves both). Tensors cross as transferable buffers. Workers are never
 * terminated while busy (that crashes the process): cancellation happens between blocks, and `close()`
 * waits for idle lanes.
 *
 * @module
 */
import { z } from "zod";
import {
  fromWire,
  type LaneCall,
  type LaneReply,
  type LaneRequest,
  toWire,
  type WireTensor,
} from "./_lane_protocol.ts";
import { ExecutorError } from "../core/errors.ts";
import { availableBytes, fixMmapThreshold, rssBytes } from "../core/memory.ts";
import type { BlockRef, Executor, LoadedBlock, PluginDefinition, TensorMap } from "../core/types.ts";

/** Options of the `local` executor (after defaults). */
export interface LocalOptions {
  /** Most workers to start; plan lanes beyond it share workers (lane i → worker i mod lanes). */
  lanes?: number;
  /** onnxruntime intra-op threads per session. */
  threads: number;
  /** Keep the CPU memory arena (faster repeated runs of resident blocks, more memory). */
  arena: boolean;
  /**
   * Hand freed heap back to the OS (`malloc_trim(0)`) after unloads: `true` after unloading pre-packed
   * weights (they live in the heap; mapped weights leave with their mappings, and the heap pages the next
   * run's working memory reuses stay), `"always"` after every unload (the least memory between blocks, but
   * each run faults its working memory in again), `false` never.
   */
  trim: boolean | "always";
  /**
   * onnxruntime graph optimization level. Session creation is ~2.8× faster with `disabled` than `all` on a
   * 512-wide STDiT3 block with similar run time (measured here): a trade for plans that load every pass.
   */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /**
   * Pre-pack weights at session creation: `kept` (default) for blocks the plan keeps across passes, not
   * for blocks it streams (loaded for one run, {@link BlockRef.transient}); or `true` / `false` for all.
   * Pre-packing makes repeated runs a little faster but creation ~5× slower (an STDiT3-XL block: ~99 ms
   * instead of ~20 ms here). Without it the weights stay memory-mapped and the lane that loads the block
   * faults them in (~10–17 ms), so that its run does not.
   */
  prepack?: boolean | "kept";
  /**
   * The least memory, for budgets near what one lane and one block need (measured on the hard-cap test's
   * mid-preset bundle at 25% of its stage bytes, 83.3 MiB: the run's added peak went from over the budget to
   * 66–68 MiB, frames bit-equal). Three changes, none of them to the numerics:
   * - the first lane runs in the calling thread, not in a worker: no worker isolate (the first lane's
   *   measured start-up 56 → 44 MiB; most of the rest is onnxruntime's code and environment); the calling
   *   thread blocks while it loads or runs a block (progress and cancellation are seen between blocks, as
   *   always); further lanes are workers, sharing the library and environment (13.8 MiB each measured);
   * - allocations of {@link LEAN_MMAP_THRESHOLD} or more get their own mappings, handed back when freed
   *   (glibc `mallopt(M_MMAP_THRESHOLD)`, for the whole process from the first start on). glibc's own
   *   threshold grows with the largest block freed, past which onnxruntime's activations come from the
   *   heap, where an aligned tensor of the size just freed does not fit the hole the last one left: a chain
   *   of elementwise operators grew the heap by one tensor each (a block took 32.8 MiB loaded and running,
   *   21.9 MiB with this). The price: every activation faults fresh pages in;
   * - a budgeted block's unload runs V8's memory-reducing collection, which also shrinks the young
   *   generation a run grows (8–10 MiB here); the price: several full collections per unload.
   */
  lean?: boolean;
}

/** The C heap's mmap threshold of a {@link LocalOptions.lean} executor, bytes (glibc's initial one). */
export const LEAN_MMAP_THRESHOLD = 128 * 1024;

const localOptions: z.ZodType<LocalOptions> = z.object({
  /** Most workers to start; plan lanes beyond it share workers (lane i → worker i mod lanes). */
  lanes: z.number().int().positive().optional(),
  /** onnxruntime intra-op threads per session. */
  threads: z.number().int().positive().default(1),
  /** Keep the CPU memory arena (faster repeated runs of resident blocks, more memory). */
  arena: z.boolean().default(false),
  /** Hand freed heap back to the OS after unloads of pre-packed weights (`true`), every unload, or never. */
  trim: z.union([z.boolean(), z.literal("always")]).default(true),
  optimization: z.enum(["disabled", "basic", "extended", "all"]).default("all"),
  prepack: z.union([z.boolean(), z.literal("kept")]).default("kept"),
  /** The least memory: the first lane in the calling thread, large allocations mapped on their own. */
  lean: z.boolean().default(false),
}).strict();

const BACKEND = "local";

interface Lane {
  /** Where the lane's sessions live: this thread, or a worker's. */
  kind: "inline" | "worker";
  /** Hand a request to the lane; its reply settles the entry in `pending`. */
  post(req: LaneRequest, transfer: Transferable[]): void;
  /** Stop the lane (it is idle). */
  stop(): void;
  pending: Map<number, { resolve: (r: LaneReply) => void; reject: (e: Error) => void }>;
  dead: Error | null;
}

/** An {@link Executor} running blocks on onnxruntime-node lanes in this process. */
export class LocalExecutor implements Executor {
  readonly name = BACKEND;
  readonly kind = "executor" as const;
  #lanes: Lane[] = [];
  #nextId = 1;
  #nextBlock = 1;
  #loaded = new Map<number, { block: LoadedBlock; session: number; lane: Lane }>();
  #options: LocalOptions;

  constructor(options: LocalOptions) {
    this.#options = options;
  }

  /**
   * Start `lanes` workers (capped by the `lanes` option); idempotent for the same count. Resolves once
   * every new worker has loaded onnxruntime and answered, so that what a lane costs can be measured.
   */
  async start(lanes: number): Promise<void> {
    const want = Math.min(Math.max(1, lanes), this.#options.lanes ?? Infinity);
    if (this.#lanes.length === 0 && this.#options.lean) fixMmapThreshold(LEAN_MMAP_THRESHOLD);
    const started: Lane[] = [];
    while (this.#lanes.length < want) {
      const lane = this.#lanes.length === 0 && this.#options.lean ? this.#inline() : this.#spawn();
      this.#lanes.push(lane);
      started.push(lane);
    }
    await Promise.all(started.map((lane) => this.#call(lane, { op: "ready" }, "start lane", null)));
  }

  /** Where each started lane's sessions live, in lane order: this thread (`inline`) or a worker's. */
  get laneKinds(): ("inline" | "worker")[] {
    return this.#lanes.map((lane) => lane.kind);
  }

  #spawn(): Lane {
    const worker = new Worker(new URL("./lane_worker.ts", import.meta.url).href, { type: "module" });
    const lane: Lane = {
      kind: "worker",
      post: (req, transfer) => worker.postMessage(req, transfer),
      stop: () => worker.terminate(),
      pending: new Map(),
      dead: null,
    };
    worker.onmessage = (e: MessageEvent<LaneReply>) => {
      const p = lane.pending.get(e.data.id);
      lane.pending.delete(e.data.id);
      p?.resolve(e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      lane.dead = new Error(e.message);
      for (const p of lane.pending.values()) p.reject(lane.dead);
      lane.pending.clear();
    };
    return lane;
  }

  /** A lane in this thread: its sessions answer requests in order, between this thread's other work. */
  #inline(): Lane {
    const deliver = (reply: LaneReply) => {
      const p = lane.pending.get(reply.id);
      lane.pending.delete(reply.id);
      p?.resolve(reply);
    };
    // onnxruntime-node loads into this thread only when an inline lane starts
    const serve = import("./lane_sessions.ts").then((m) => m.serveInOrder(new m.LaneSessions(), deliver));
    const lane: Lane = {
      kind: "inline",
      post: (req) =>
        void serve.then(
          (handle) => handle(req),
          (e: unknown) =>
            deliver({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
        ),
      stop: () => {},
      pending: new Map(),
      dead: null,
    };
    return lane;
  }

  #lane(index: number): Lane {
    if (this.#lanes.length === 0) {
      throw new ExecutorError(
        "Cannot use lane: the local executor is not started (call start())",
        BACKEND,
        null,
      );
    }
    return this.#lanes[index % this.#lanes.length];
  }

  #send(lane: Lane, req: LaneCall, transfer: Transferable[] = []): Promise<LaneReply> {
    if (lane.dead) return Promise.reject(lane.dead);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      lane.pending.set(id, { resolve, reject });
      lane.post({ ...req, id }, transfer);
    });
  }

  async #call(lane: Lane, req: LaneCall, action: string, block: string | null, transfer?: Transferable[]) {
    let reply: LaneReply;
    try {
      reply = await this.#send(lane, req, transfer);
    } catch (e) {
      throw new ExecutorError(`Cannot ${action}: lane crashed (${(e as Error).message})`, BACKEND, block, {
        cause: e,
      });
    }
    if (!reply.ok) {
      throw new ExecutorError(`Cannot ${action}: ${reply.error}`, BACKEND, block, { cause: reply.error });
    }
    return reply;
  }

  /** Create the block's session on its lane, from the file path (external data memory-mapped). */
  async load(ref: BlockRef): Promise<LoadedBlock> {
    const name = `${ref.stage}/${ref.name}`;
    const lane = this.#lane(ref.lane);
    const { threads, arena, trim, optimization, prepack } = this.#options;
    const packs = (prepack ?? "kept") === "kept" ? !ref.transient : prepack === true;
    const sparse = ref.sparse === true;
    const options = {
      threads,
      arena,
      trim,
      optimization: optimization ?? "all",
      prepack: packs && !sparse,
      populate: !sparse,
    };
    const reply = await this.#call(
      lane,
      { op: "load", path: ref.path, options },
      `load block '${name}' from '${ref.path}'`,
      name,
    );
    const block: LoadedBlock = Object.freeze({ ref, id: this.#nextBlock++ });
    this.#loaded.set(block.id, { block, session: reply.session!, lane });
    return block;
  }

  /** Run a loaded block on its lane; inputs are copied out, outputs transferred back. */
  async run(block: LoadedBlock, feeds: TensorMap): Promise<TensorMap> {
    const name = `${block.ref.stage}/${block.ref.name}`;
    const entry = this.#loaded.get(block.id);
    if (!entry) throw new ExecutorError(`Cannot run block '${name}': it is not loaded`, BACKEND, name);
    const wire: Record<string, WireTensor> = {};
    for (const [k, t] of Object.entries(feeds)) wire[k] = toWire(t);
    const transfer = Object.values(wire).map((w) => w.buffer);
    const reply = await this.#call(
      entry.lane,
      { op: "run", session: entry.session, feeds: wire },
      `run block '${name}'`,
      name,
      transfer,
    );
    const out: TensorMap = {};
    for (const [k, w] of Object.entries(reply.outputs ?? {})) out[k] = fromWire(w);
    return out;
  }

  /**
   * Release the block's session (and trim the heap unless `trim: false`). A budgeted block's lane also
   * collects its garbage and trims after pre-packed weights even under `trim: false` (their heap copies
   * would stay in the process outside the plan); its working memory stays with the lane, as plans count it.
   */
  async unload(block: LoadedBlock): Promise<void> {
    const entry = this.#loaded.get(block.id);
    if (!entry) return;
    this.#loaded.delete(block.id);
    const name = `${block.ref.stage}/${block.ref.name}`;
    await this.#call(
      entry.lane,
      {
        op: "unload",
        session: entry.session,
        trim: block.ref.budgeted && this.#options.trim === false ? true : this.#options.trim,
        collect: block.ref.budgeted === true && (this.#options.lean ? "reduce" : true),
      },
      `unload block '${name}'`,
      name,
    );
  }

  /** Loaded weights (bundle bytes), memory the OS can still give, and this process's RSS. */
  memory(): Promise<{ residentBytes: number; availableBytes: number; rssBytes: number }> {
    let resident = 0;
    for (const { block } of this.#loaded.values()) resident += block.ref.bytes;
    return Promise.resolve({
      residentBytes: resident,
      availableBytes: availableBytes(),
      rssBytes: rssBytes(),
    });
  }

  /** Wait for every lane to go idle, release all sessions, and stop the workers. */
  async close(): Promise<void> {
    const lanes = this.#lanes;
    this.#lanes = [];
    this.#loaded.clear();
    await Promise.allSettled(lanes.map(async (lane) => {
      // A lane handles requests in order, so the reply to `close` means everything before it finished.
      if (!lane.dead) await this.#send(lane, { op: "close" }).catch(() => undefined);
      lane.stop();
    }));
  }
}

/**
 * The `local` executor plugin definition.
 *
 * @example
 * ```ts ignore
 * import { local } from "./executor_local.ts";
 * const executor = local.create(local.options.parse({ threads: 1 }));
 * await executor.start(2);
 * await executor.close();
 * ```
 */
export const local:
  & { create(options: LocalOptions): LocalExecutor }
  & PluginDefinition<"executor", typeof localOptions> = {
    name: "local",
    kind: "executor",
    options: localOptions,
    create: (options) => new LocalExecutor(options),
  };
