/**
 * The denoise loop: builds the guided model function (patch-grid padding, classifier-free guidance over a
 * doubled batch, the token ops' time operators, one denoiser pass per call) and hands it to the sampler.
 * With a step cache, a call runs the stage's first block, asks the cache, and then either runs the rest
 * (handing the cache the residual of the middle blocks) or adds the cached residual and runs the last
 * block only: the middle blocks are then neither loaded nor run.
 *
 * @module
 */
import { type Bundle, stageOf } from "./manifest.ts";
import { OdsoraError, PluginError, StageError } from "./errors.ts";
import { runSampler } from "./sample.ts";
import type { RunContext } from "./run_context.ts";
import type { StageRunner } from "./stage.ts";
import {
  addScaled,
  concat,
  cropTo,
  eye,
  full,
  matmul,
  padTo,
  releaseTensor,
  reshape,
  slice,
  sub,
  tensor,
  toFloat32,
} from "./tensor.ts";
import type {
  ModelFn,
  Sampler,
  StepCache,
  StepCacheDecision,
  StepCacheQuery,
  Tensor,
  TensorMap,
  TimeOperators,
  TokenOp,
} from "./types.ts";

/** Options of {@link denoise}. */
export interface DenoiseOptions extends Pick<RunContext, "emit" | "signal"> {
  bundle: Bundle;
  runner: StageRunner;
  sampler: Sampler;
  tokenOps: readonly TokenOp[];
  /** Skips model calls' middle blocks when it says so; absent or null = every call computed. */
  stepCache?: StepCache | null;
  /** Initial noise [n, C, T, H, W] (latent cells, unpadded). */
  noise: Tensor<"float32">;
  /** Text embeddings [n, L, Cc]. */
  y: Tensor<"float32">;
  /** Text mask [n, L] (1 = token); any dtype. */
  yMask: Tensor;
  /** The null caption [L' ≥ L, Cc]; its first L rows are the unconditional text. */
  yNull: Tensor<"float32">;
  cfgScale: number;
  timesteps: readonly number[];
  fps: number;
  /** Video size in pixels (the position-embedding scale uses it). */
  height: number;
  width: number;
  signal?: AbortSignal;
}

/** The tensors and sizes a denoise run starts from (what text encoding and the noise give it). */
export type DenoiseInputs = Pick<
  DenoiseOptions,
  "noise" | "y" | "yMask" | "yNull" | "timesteps" | "fps" | "height" | "width"
>;

const dimsOf = (t: Tensor) => `'${JSON.stringify(t.dims)}'`;

/** 0, 1, …, n − 1 as float32. */
const indices = (n: number) => tensor("float32", [n], Float32Array.from({ length: n }, (_, i) => i));

/** `values` read at fractional indices `at` (linear between neighbours). */
function interpolate(values: Float32Array, at: Float32Array): Float32Array {
  return at.map((q) => {
    const i = Math.min(Math.max(Math.floor(q), 0), values.length - 1);
    const next = Math.min(i + 1, values.length - 1);
    return values[i] + (values[next] - values[i]) * (q - i);
  });
}

/**
 * Compose the token ops' operators for one step: identity when all are null, else chained products, with the
 * merged tokens' positions in latent frames (each op's `positions` read off the positions before it; an op
 * without them numbers its tokens 0..T'−1).
 *
 * @example
 * ```ts ignore
 * composeOperators([], { step: 0, total: 30, t: 1000 }, 4).positions.data; // [0, 1, 2, 3]
 * ```
 */
export function composeOperators(
  tokenOps: readonly TokenOp[],
  step: { step: number; total: number; t: number },
  frames: number,
): Required<TimeOperators> {
  let merge = eye(frames);
  let unmerge = eye(frames);
  let positions = indices(frames);
  let current = frames;
  for (const op of tokenOps) {
    let ops: TimeOperators | null;
    try {
      ops = op.operators(step, current);
    } catch (e) {
      throw new PluginError(
        `Cannot get operators of token op '${op.name}': ${(e as Error).message}`,
        op.name,
        "operators",
        { cause: e },
      );
    }
    if (!ops) continue;
    const [m0, m1] = ops.merge.dims;
    const [u0, u1] = ops.unmerge.dims;
    const p = ops.positions;
    if (
      ops.merge.dims.length !== 2 || m1 !== current || u0 !== current || u1 !== m0 ||
      (p && (p.dims.length !== 1 || p.dims[0] !== m0))
    ) {
      throw new PluginError(
        `Cannot use operators of token op '${op.name}' at step '${step.step}': merge ${dimsOf(ops.merge)}, ` +
          `unmerge ${dimsOf(ops.unmerge)} and positions ${
            p ? dimsOf(p) : "(none)"
          } do not fit '${current}' frames`,
        op.name,
        "operators",
      );
    }
    merge = matmul(ops.merge, merge);
    unmerge = matmul(unmerge, ops.unmerge);
    positions = p ? tensor("float32", [m0], interpolate(positions.data, p.data)) : indices(m0);
    current = m0;
  }
  return { merge, unmerge, positions };
}

/** Whether `positions` are 0..n−1, the positions every denoiser graph uses without a `rope_pos` input. */
const isIndices = (positions: Tensor<"float32">) => positions.data.every((v, i) => v === i);

function checkInputs(o: DenoiseOptions, inChannels: number): void {
  const { noise, y, yMask, yNull } = o;
  const n = noise.dims[0];
  const bad = (what: string) => {
    throw new StageError(`Cannot denoise: ${what}`, "denoiser");
  };
  if (noise.dims.length !== 5 || noise.dims[1] !== inChannels) {
    bad(`noise dims ${dimsOf(noise)} are not [n, ${inChannels}, T, H, W]`);
  }
  if (y.dims.length !== 3 || y.dims[0] !== n) bad(`y dims ${dimsOf(y)} are not [${n}, L, Cc]`);
  if (yMask.dims.length !== 2 || yMask.dims[0] !== n || yMask.dims[1] !== y.dims[1]) {
    bad(`y mask dims ${dimsOf(yMask)} are not [${n}, ${y.dims[1]}]`);
  }
  if (yNull.dims.length !== 2 || yNull.dims[0] < y.dims[1] || yNull.dims[1] !== y.dims[2]) {
    bad(`null caption dims ${dimsOf(yNull)} do not cover [${y.dims[1]}, ${y.dims[2]}]`);
  }
}

/** The stage's block split for a step cache: first block, middle blocks, last block, and the carried tensor. */
interface CacheSplit {
  head: Set<string>;
  rest: Set<string>;
  tail: Set<string>;
  /** The first block's outputs (the signals a cache sees). */
  signals: string[];
  /** The one tensor the middle blocks read from the first block and rewrite (`h`). */
  carried: string;
}

function cacheSplit(bundle: Bundle): CacheSplit {
  const blocks = stageOf(bundle, "denoiser").blocks;
  const bad = (why: string): never => {
    throw new StageError(`Cannot cache steps on bundle '${bundle.name}': ${why}`, "denoiser");
  };
  if (blocks.length < 3) bad(`its denoiser has '${blocks.length}' blocks, not a first, middle and last`);
  const signals = blocks[0].outputs.map((o) => o.name);
  const written = new Set(blocks.slice(1, -1).flatMap((b) => b.outputs.map((o) => o.name)));
  if (written.size !== 1 || !signals.includes([...written][0])) {
    bad(`its middle blocks write '${[...written].join("', '")}', not one tensor of the first block`);
  }
  const names = blocks.map((b) => b.name);
  return {
    head: new Set(names.slice(0, 1)),
    rest: new Set(names.slice(1)),
    tail: new Set(names.slice(-1)),
    signals,
    carried: [...written][0],
  };
}

/** A key of a step's token layout: equal keys = the same merge of frames (a residual may carry over). */
function layoutKey(ops: Required<TimeOperators>): string {
  return `${ops.merge.dims.join("x")}:${Array.from(ops.merge.data).join(",")}@${
    ops.positions.data.join(",")
  }`;
}

function askCache(cache: StepCache, query: StepCacheQuery): StepCacheDecision {
  let d: StepCacheDecision;
  try {
    d = cache.decide(query);
  } catch (e) {
    throw new PluginError(
      `Cannot ask step cache '${cache.name}' at step '${query.step}': ${(e as Error).message}`,
      cache.name,
      "decide",
      { cause: e },
    );
  }
  if (typeof d?.reuse !== "boolean" || typeof d.reason !== "string" || d.reason.length === 0) {
    throw new PluginError(
      `Cannot use the decision of step cache '${cache.name}' at step '${query.step}': it is not { reuse, reason }`,
      cache.name,
      "decide",
    );
  }
  return d;
}

/**
 * Run the sampler over the denoiser with CFG; returns the final latent [n, C, T, H, W] and the number of
 * model calls.
 *
 * @example
 * ```ts ignore
 * const { latent, calls } = await denoise({ bundle, runner, sampler, tokenOps: [], noise, y, yMask, yNull,
 *   cfgScale: 7, timesteps, fps: 24, height: 240, width: 426, emit: console.log });
 * ```
 */
export async function denoise(o: DenoiseOptions): Promise<{ latent: Tensor<"float32">; calls: number }> {
  const spec = stageOf(o.bundle, "denoiser");
  checkInputs(o, spec.in_channels);
  const [n, c, T, H, W] = o.noise.dims;
  const [pt, ph, pw] = spec.patch_size;
  const padded = [n, c, Math.ceil(T / pt) * pt, Math.ceil(H / ph) * ph, Math.ceil(W / pw) * pw];
  const frames = padded[2] / pt;
  const L = o.y.dims[1];
  const nullRows = reshape(slice(o.yNull, 0, 0, L), [1, L, o.y.dims[2]]);
  const mask = toFloat32(o.yMask);
  const fixed: TensorMap = {
    y: concat([o.y, ...Array(n).fill(nullRows)], 0),
    y_mask: concat([mask, mask], 0),
    x_mask: full([2 * n, frames], 1),
    fps: full([2 * n], o.fps),
    height: full([1], o.height),
    width: full([1], o.width),
  };
  const total = o.timesteps.length;
  // Bundles exported before `rope_pos` existed number merged frames 0..T'−1 inside the graph.
  const takesPositions = spec.blocks.some((b) => b.inputs.some((i) => i.name === "rope_pos"));
  const cache = o.stepCache ?? null;
  const split = cache ? cacheSplit(o.bundle) : null;
  let cached: { residual: Tensor<"float32">; layout: string } | null = null;
  const reusedSteps = new Set<number>();

  /** One call through the cache: first block, decision, then the rest or the last block only. */
  const cachedPass = async (
    input: TensorMap,
    info: { step: number; t: number; layout: string; exact: boolean },
  ): Promise<TensorMap> => {
    const { head, rest, tail, signals, carried } = split!;
    const first = await o.runner.runPart(input, calls, head);
    const query: StepCacheQuery = {
      step: info.step,
      total,
      t: info.t,
      call: calls,
      signals: Object.fromEntries(signals.map((name) => [name, first[name]])),
      reusable: cached !== null && cached.layout === info.layout,
    };
    const asked = info.exact
      ? { reuse: false, reason: "the sampler needs this call computed" }
      : askCache(cache!, query);
    const reuse = asked.reuse && query.reusable;
    const reason = asked.reuse && !reuse
      ? `computed: no cached residual of this step's token layout (${asked.reason})`
      : asked.reason;
    o.emit({
      type: "cache",
      cache: cache!.name,
      step: info.step,
      call: calls,
      reused: reuse,
      reason,
      data: asked.data,
    });
    if (reuse) {
      reusedSteps.add(info.step);
      first[carried] = addScaled(first[carried] as Tensor<"float32">, cached!.residual, 1);
      return await o.runner.runPart(first, calls, tail);
    }
    const env = await o.runner.runPart(first, calls, rest);
    const residual = sub(env[carried] as Tensor<"float32">, first[carried] as Tensor<"float32">);
    try {
      cache!.update(query, residual);
    } catch (e) {
      throw new PluginError(
        `Cannot update step cache '${cache!.name}' at step '${info.step}': ${(e as Error).message}`,
        cache!.name,
        "update",
        { cause: e },
      );
    }
    cached = { residual, layout: info.layout };
    return env;
  };

  let calls = 0;
  const model: ModelFn = async (x, t, step, options) => {
    const xp = padTo(x, padded);
    const ops = composeOperators(o.tokenOps, { step, total, t }, frames);
    if (!takesPositions && !isIndices(ops.positions)) {
      throw new StageError(
        `Cannot denoise with token ops '${
          o.tokenOps.map((op) => op.name).join("', '")
        }': they place merged ` +
          `frames at positions [${ops.positions.data.join(", ")}], but bundle '${o.bundle.name}' has no ` +
          `'rope_pos' block input (exported before it existed; export it again)`,
        "denoiser",
      );
    }
    const input: TensorMap = {
      ...fixed,
      x: concat([xp, xp], 0),
      timestep: full([2 * n], t),
      merge_t: ops.merge,
      unmerge_t: ops.unmerge,
      rope_pos: ops.positions,
    };
    const env = cache
      ? await cachedPass(input, { step, t, layout: layoutKey(ops), exact: options?.exact === true })
      : await o.runner.run(input, calls);
    calls++;
    const out = env[spec.output] as Tensor<"float32"> | undefined;
    if (!out || out.dims.length !== 5 || out.dims[0] !== 2 * n || out.dims[1] < c) {
      throw new StageError(
        `Cannot denoise: output '${spec.output}' has dims '${JSON.stringify(out?.dims)}'`,
        "denoiser",
      );
    }
    const v = slice(cropTo(out, [2 * n, out.dims[1], T, H, W]), 1, 0, c);
    const cond = slice(v, 0, 0, n);
    const uncond = slice(v, 0, n, 2 * n);
    const drift = addScaled(uncond, sub(cond, uncond), o.cfgScale);
    // What the pass produced (the output and the blocks' last intermediates, megabytes each) is garbage
    // now that the drift is a copy: free it at once rather than at the next collection.
    for (const [name, tensor] of Object.entries(env)) if (input[name] !== tensor) releaseTensor(tensor);
    return drift;
  };
  try {
    const { latent, calls } = await runSampler(o.sampler, model, o.noise, {
      timesteps: o.timesteps,
      emit: o.emit,
      signal: o.signal,
      reused: cache ? (step) => reusedSteps.has(step) : undefined,
    });
    return { latent, calls };
  } catch (e) {
    if (
      e instanceof OdsoraError || (e instanceof DOMException && e.name === "AbortError") || o.signal?.aborted
    ) throw e;
    throw new PluginError(
      `Cannot sample with '${o.sampler.name}': ${(e as Error).message}`,
      o.sampler.name,
      "sample",
      { cause: e },
    );
  }
}
