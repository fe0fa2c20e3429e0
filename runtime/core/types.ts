/**
 * The core contracts of odsora: tensors, the five plugin kinds (sampler, token op, step cache, memory
 * scheduler, executor), plans, and the run-event union shared by the terminal progress bar, the report and the UI.
 *
 * The runtime knows these interfaces and nothing about any specific technique. Adding a sampler,
 * token op or scheduler means writing a plugin against this file, never editing `runtime/`.
 *
 * @module
 */
import type { z } from "zod";

// ---------------------------------------------------------------------------------------------
// Tensors
// ---------------------------------------------------------------------------------------------

/** Element types the bundles use. */
export type DType = "float32" | "int64" | "uint8";

/** Typed-array storage for each {@link DType}. */
export interface DTypeArray {
  float32: Float32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
}

/** A read-only dense row-major tensor record (as in onnxruntime's JS API). Operations are free functions. */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly dims: readonly number[];
  readonly data: DTypeArray[D];
}

/** Named tensors: a block's feeds or results, a stage's environment. */
export type TensorMap = Record<string, Tensor>;

// ---------------------------------------------------------------------------------------------
// Run events (one status-tagged union: terminal progress, JSON report, SSE to the UI)
// ---------------------------------------------------------------------------------------------

/** Names of the three stages of a run, in data-flow order. */
export type StageName = "text" | "denoiser" | "vae";

/** Everything a run reports while it goes. Observers only read these. */
export type RunEvent =
  | { type: "run"; status: "start"; recipe: string; bundle: string; prompt: string; at: number }
  | { type: "stage"; stage: StageName; status: "start" | "end"; at: number }
  | {
    type: "step";
    step: number; // 0-based index of the model call just finished
    total: number; // K, the schedule length
    t: number; // timestep of this call, in [0, 1000]
    calls: number; // model calls so far
    etaMs: number | null;
    /** The step's model call reused a cached residual (its middle blocks were neither loaded nor run). */
    reused?: boolean;
  }
  | {
    type: "cache";
    cache: string; // the step cache's name
    step: number;
    call: number; // 0-based model-call index (the stage pass)
    reused: boolean;
    reason: string;
    data?: Record<string, number | boolean | null>;
  }
  | {
    type: "decision";
    sampler: string;
    step: number;
    message: string;
    data?: Record<string, number | boolean | null>;
  }
  | {
    type: "block";
    stage: StageName;
    block: string;
    index: number; // position of the block in its stage
    count: number; // blocks in the stage
    op: "load" | "run" | "unload";
    lane: number;
    pass: number;
    start: number; // ms since run start
    end: number;
  }
  | { type: "memory"; rssBytes: number; residentBytes: number; budgetBytes: number | null; at: number }
  | { type: "preview"; step: number; width: number; height: number; png: Uint8Array }
  | { type: "done"; video: string | null; gif: string | null; report: string }
  | { type: "error"; message: string };

/** A function that receives run events. */
export type Emit = (event: RunEvent) => void;

// ---------------------------------------------------------------------------------------------
// Samplers: one function of (model, x, schedule), as in k-diffusion
// ---------------------------------------------------------------------------------------------

/** What a sampler may ask of one model call. */
export interface ModelCallOptions {
  /**
   * The sampler needs this call computed in full (e.g. the velocity it leaps to t = 0 with): a step cache
   * is not asked and no cached residual is reused.
   */
  exact?: boolean;
}

/**
 * The guided model: the CFG-combined velocity for latent `x` at timestep `t` (0..1000) and step index
 * `step` (the token ops use it), with the same dims as `x`.
 */
export type ModelFn = (
  x: Tensor<"float32">,
  t: number,
  step: number,
  options?: ModelCallOptions,
) => Promise<Tensor<"float32">>;

/** A decision a plugin reports (a leap, a cosine value) for the UI and the report. */
export interface Decision {
  step: number;
  message: string;
  data?: Record<string, number | boolean | null>;
}

/**
 * What every sampler gets besides the model and the initial noise. The model function itself reports each
 * call (a step event) and stops once the run is cancelled, so a sampler is its math alone.
 */
export interface SampleContext {
  /** The K timesteps t_0 > t_1 > ... > t_{K-1} > 0, in [0, 1000] (t_K = 0 is implied). */
  timesteps: readonly number[];
  /** Cancellation, for a sampler that works long between model calls (the model function checks it). */
  signal?: AbortSignal;
  /** Report a decision (a leap, a cosine value) for the UI and the report. */
  onDecision(info: Decision): void;
  /**
   * Whether the model call of `step` reused a cached residual (an approximation, not evidence of how the
   * model behaves there). Absent or `false` when the run has no step cache.
   */
  reused?(step: number): boolean;
}

/** A sampler plugin: integrates the rectified flow from noise (t = 1000) to data (t = 0). */
export interface Sampler {
  readonly name: string;
  readonly kind: "sampler";
  sample(model: ModelFn, x: Tensor<"float32">, ctx: SampleContext): Promise<Tensor<"float32">>;
  /**
   * The schedule to integrate over, given the run's (the recipe's `schedule` for its `steps`): a sampler
   * that chooses its own timesteps returns them (strictly decreasing, in (0, 1000]). Absent: the run's.
   */
  schedule?(timesteps: readonly number[]): readonly number[];
}

// ---------------------------------------------------------------------------------------------
// Token ops: time-axis operators around every attention of every denoiser block
// ---------------------------------------------------------------------------------------------

/** Where the denoise loop is when a token op is asked for its operators. */
export interface StepInfo {
  step: number; // 0-based model-call index along the schedule
  total: number; // K
  t: number; // timestep in [0, 1000]
}

/**
 * Linear operators along the (latent) time axis: `merge` [T', T] and `unmerge` [T, T'], and optionally where
 * the merged tokens sit in time for the temporal attention's rotary embedding: `positions` [T'], in units of
 * the operator's input frames (i = input frame i; fractions lie between frames). Absent: 0, 1, …, T' − 1 (the
 * reference's: merged token j at position j).
 */
export interface TimeOperators {
  merge: Tensor<"float32">;
  unmerge: Tensor<"float32">;
  positions?: Tensor<"float32">;
}

/** A token-op plugin. `null` means identity for this step. Several token ops chain (composed). */
export interface TokenOp {
  readonly name: string;
  readonly kind: "token-op";
  operators(step: StepInfo, frames: number): TimeOperators | null;
}

// ---------------------------------------------------------------------------------------------
// Step caches: skip a model call's middle blocks and reuse the residual of the last computed call
// ---------------------------------------------------------------------------------------------

/** What the denoise loop tells a step cache about one model call (after the stage's first block ran). */
export interface StepCacheQuery {
  step: number; // 0-based step index along the schedule
  total: number; // K
  t: number; // timestep in [0, 1000]
  call: number; // 0-based model-call index
  /**
   * The first block's outputs for this call (for the STDiT3 bundles: `h`, the patch-embedded input of
   * the first block, and `t_mlp`, the timestep modulation): the cheap signal a cache decides from. The
   * loop frees them after the call: copy (or reduce) what the cache keeps.
   */
  signals: TensorMap;
  /**
   * A residual of the same token layout is cached and may be reused (false on the first call, and when the
   * token ops merge this step differently from the last computed one).
   */
  reusable: boolean;
}

/** A step cache's answer: reuse the cached residual or compute, and why. */
export interface StepCacheDecision {
  reuse: boolean;
  /** Why, in words (every reuse is recorded with its reason). */
  reason: string;
  data?: Record<string, number | boolean | null>;
}

/**
 * A step-cache plugin. Before a model call the loop runs the stage's first block and asks {@link decide};
 * on `reuse` (honoured only when the query was `reusable`) the loop adds the last computed residual to the
 * first block's output and runs only the last block. After a computed call it hands {@link update} the
 * residual (middle blocks' output − first block's output). One instance serves one run.
 */
export interface StepCache {
  readonly name: string;
  readonly kind: "step-cache";
  decide(query: StepCacheQuery): StepCacheDecision;
  /** The residual is the loop's (it reuses it): read it, never write it; copy what the cache keeps. */
  update(query: StepCacheQuery, residual: Tensor<"float32">): void;
}

// ---------------------------------------------------------------------------------------------
// Memory schedulers: pure planners that return the plan as data
// ---------------------------------------------------------------------------------------------

/** One block of a stage as the planner sees it (sizes measured, never constants). */
export interface BlockInfo {
  name: string;
  /** Weights on disk (ONNX file + external data), bytes. */
  bytes: number;
  /** Working memory of one inference of this block at this run's shapes (activations + session), bytes. */
  workBytes: number;
}

/** A stage to plan: its blocks in order and how many passes over them the run makes (at most). */
export interface StageInfo {
  stage: StageName;
  blocks: readonly BlockInfo[];
  passes: number;
}

/**
 * The memory budget for a stage's plan: `null` = unlimited. `bytes` is what the plan may add: the runtime
 * has already taken out what the run holds (measured) and the stage's own fixed costs. A plan that needs
 * more lanes than `lanesRunning` pays `laneBytes` (measured start-up of a lane) for each one it adds.
 */
export interface Budget {
  bytes: number | null;
  /**
   * The memory available to the run, measured once by the pipeline (a planner that plans against the
   * machine when there is no budget reads it; planners never measure the machine themselves).
   */
  availableBytes?: number;
  /** Measured (or, before any lane ran, bounded) bytes one more lane adds when it starts; 0 when absent. */
  laneBytes?: number;
  /** Lanes already running (they cost nothing more); 0 when absent. */
  lanesRunning?: number;
}

/** One operation of a plan, carried out on a lane (a worker owning its sessions). */
export interface PlanOp {
  op: "load" | "run" | "unload";
  block: string;
  lane: number;
}

/**
 * A plan: `setup` runs once before the first pass, `pass` once per pass (model call), `teardown` once at
 * the end. The runner dispatches `load`s without waiting (they overlap earlier `run`s on other lanes); a
 * `run` waits for its block's load and the previous run; an `unload` waits for the block's run. A block is
 * loaded, run and unloaded on the same lane.
 */
export interface Plan {
  scheduler: string;
  stage: StageName;
  lanes: number;
  /** Blocks that stay loaded across passes. */
  resident: string[];
  setup: PlanOp[];
  pass: PlanOp[];
  teardown: PlanOp[];
  /** The planner's bound on loaded weights + working memory + lanes it starts, at any moment, bytes. */
  peakBytes: number;
  budgetBytes: number | null;
}

/**
 * What a planner returns: the plan without what the runtime stamps on it (scheduler, stage, and the budget,
 * which a planner sets only when it planned against another figure, e.g. the available memory).
 */
export type PlanShape = Omit<Plan, "scheduler" | "stage" | "budgetBytes"> & { budgetBytes?: number | null };

/** A memory-scheduler plugin. Throws `BudgetError` (before any work) when the budget cannot hold a block. */
export interface MemoryScheduler {
  readonly name: string;
  readonly kind: "scheduler";
  plan(stage: StageInfo, budget: Budget): PlanShape;
}

// ---------------------------------------------------------------------------------------------
// Executors: where blocks run (local onnxruntime-node lanes, or an iPhone over the iOS bridge)
// ---------------------------------------------------------------------------------------------

/** A block to load: absolute path of its ONNX file and the lane that owns it. */
export interface BlockRef {
  stage: StageName;
  name: string;
  path: string;
  bytes: number;
  lane: number;
  /**
   * The plan unloads this block after one run (it streams): an executor may trade run speed for a faster
   * load. Absent or `false` for blocks kept across passes.
   */
  transient?: boolean;
  /**
   * The block reads its weights sparsely (a token-embedding lookup): an executor should leave them
   * memory-mapped and not fault them in, so only the rows a run touches become resident.
   */
  sparse?: boolean;
  /**
   * The run's memory budget counts this block as it measured it: when it unloads, an executor collects
   * the garbage of the lane that ran it and hands freed weight copies back to the OS (so that freed heap
   * does not pile up across the streamed blocks outside the plan).
   */
  budgeted?: boolean;
}

/** A block an executor has loaded. */
export interface LoadedBlock {
  readonly ref: BlockRef;
  readonly id: number;
}

/** The budget an executor's device offers when the recipe sets none (the `ios` executor: the phone's memory). */
export interface ExecutorBudget {
  bytes: number;
  /** Where the figure came from, for the report (e.g. the device, its `availableBytes`, the margin). */
  source: Record<string, string | number>;
}

/** An executor plugin. */
export interface Executor {
  readonly name: string;
  readonly kind: "executor";
  /** Start `lanes` lanes (idempotent for the same count). */
  start(lanes: number): Promise<void>;
  load(block: BlockRef): Promise<LoadedBlock>;
  run(block: LoadedBlock, feeds: TensorMap): Promise<TensorMap>;
  unload(block: LoadedBlock): Promise<void>;
  memory(): Promise<{ residentBytes: number; availableBytes: number; rssBytes: number }>;
  /**
   * Optional: the memory budget to plan against when the recipe gives none (an executor whose blocks run
   * on another machine knows that machine's memory; the local executor leaves it out: unlimited).
   */
  defaultBudget?(): Promise<ExecutorBudget>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Plugin definitions (factories, as in Rollup/Vite)
// ---------------------------------------------------------------------------------------------

/** Plugin kinds and the object each kind's factory returns. */
export interface PluginKinds {
  sampler: Sampler;
  "token-op": TokenOp;
  "step-cache": StepCache;
  scheduler: MemoryScheduler;
  executor: Executor;
}

/** The plugin kinds. */
export type PluginKind = keyof PluginKinds;

/** What a factory of kind `K` returns: the hooks; the registry stamps `name` and `kind` on it. */
export type PluginHooks<K extends PluginKind> = Omit<PluginKinds[K], "name" | "kind">;

/**
 * A plugin definition: a name, a kind, its own zod option schema, and a factory. The registry validates the
 * options once (the factory gets `z.infer` of the schema, defaults applied) and stamps `name` and `kind` on
 * what the factory returns. Built-ins and user modules (which export it as `plugin`) have this shape.
 */
export interface PluginDefinition<K extends PluginKind = PluginKind, S extends z.ZodType = z.ZodType> {
  name: string;
  kind: K;
  options: S;
  create(options: z.infer<S>): PluginHooks<K>;
}
