/**
 * Shared conformance for step-cache plugins (built-ins and modules): on the default model's denoiser,
 * `off` options reuse nothing and give the cache-free latent bit for bit; `on` options reuse some calls,
 * each with a reason, and a reused call neither loads nor runs a middle block; an abort stops the loop.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Bundle, loadBundle, stageOf } from "../runtime/bundle/bundle.ts";
import { local } from "../runtime/local/executor_local.ts";
import { gaussianNoise } from "../runtime/core/rng.ts";
import { encodeText } from "../runtime/pipeline/text_stage.ts";
import type {
  Executor,
  MemoryScheduler,
  PluginDefinition,
  RunEvent,
  Sampler,
  StepCache,
  Tensor,
  TokenOp,
} from "../runtime/core/types.ts";
import { euler } from "../samplers/euler.ts";
import { rflowTimesteps } from "../runtime/core/timesteps.ts";
import { resident } from "../schedulers/resident.ts";
import { ROOT } from "./_bundles.ts";
import { denoiseWith, type DenoiseWithResult } from "./_denoise_with.ts";
import type { DenoiseInputs } from "../runtime/core/denoise.ts";
import { instantiate } from "../runtime/core/registry.ts";

/** The default model's denoiser inputs for one prompt (text encoded by the bundle), at 17 frames 64x64. */
export interface CacheInputs extends DenoiseInputs {
  bundle: Bundle;
  executor: Executor;
}

/**
 * Load the default model and encode `prompt` (the caller closes `executor`).
 *
 * @example
 * ```ts ignore
 * const inputs = await defaultModelInputs("a red circle moving left on a black background", 12);
 * ```
 */
export async function defaultModelInputs(prompt: string, steps: number): Promise<CacheInputs> {
  const bundle = await loadBundle(join(ROOT, "models", "default"));
  const executor = local.create(local.options.parse({ threads: 1 }));
  const text = await encodeText({
    bundle,
    prompts: [prompt],
    executor,
    scheduler: instantiate(resident),
    budget: { bytes: null },
    emit: () => {},
  });
  const c = stageOf(bundle, "denoiser").in_channels;
  return {
    bundle,
    executor,
    noise: gaussianNoise([1, c, 5, 8, 8], 42),
    y: text.y,
    yMask: text.mask,
    yNull: text.yNull,
    timesteps: rflowTimesteps({ steps, height: 64, width: 64, frames: 17 }),
    fps: 8,
    height: 64,
    width: 64,
  };
}

/** Denoise `inputs` with a sampler (default Euler), token ops, scheduler (default resident) and a cache. */
export function denoiseCached(
  inputs: CacheInputs,
  o: {
    cache?: StepCache | null;
    sampler?: Sampler;
    tokenOps?: readonly TokenOp[];
    scheduler?: MemoryScheduler;
    budgetBytes?: number | null;
    signal?: AbortSignal;
    onEvent?: (e: RunEvent) => void;
  } = {},
): Promise<DenoiseWithResult> {
  const { bundle, executor, ...rest } = inputs;
  return denoiseWith(bundle, {
    ...rest,
    executor,
    sampler: o.sampler ?? instantiate(euler),
    tokenOps: o.tokenOps,
    stepCache: o.cache ?? null,
    scheduler: o.scheduler ?? instantiate(resident),
    budgetBytes: o.budgetBytes,
    signal: o.signal,
    onEvent: o.onEvent,
  });
}

type CacheEvent = Extract<RunEvent, { type: "cache" }>;
type BlockEvent = Extract<RunEvent, { type: "block" }>;

/** The cache events of a run. */
export const cacheEvents = (events: readonly RunEvent[]): CacheEvent[] =>
  events.flatMap((e) => (e.type === "cache" ? [e] : []));

/**
 * Assert that every reused call of a run ran (and loaded) only the stage's first and last blocks, that
 * every cache decision has a reason, and that step events say which steps were reused. Returns the
 * reused call indices.
 */
export function assertReusedCallsSkipMiddle(bundle: Bundle, events: readonly RunEvent[]): number[] {
  const names = stageOf(bundle, "denoiser").blocks.map((b) => b.name);
  const edges = new Set([names[0], names.at(-1)!]);
  const decisions = cacheEvents(events);
  for (const d of decisions) assert.ok(d.reason.length > 0, `call ${d.call} has no reason`);
  const reused = decisions.filter((d) => d.reused).map((d) => d.call);
  const blocks = events.flatMap((
    e,
  ) => (e.type === "block" && e.stage === "denoiser" ? [e] : [])) as BlockEvent[];
  for (const call of reused) {
    const ops = blocks.filter((b) => b.pass === call);
    assert.deepEqual(ops.filter((b) => b.op === "run").map((b) => b.block), [names[0], names.at(-1)!]);
    // (unloads are left out: the plan's teardown at close is counted in the last call's pass)
    for (const b of ops.filter((b) => b.op !== "unload")) {
      assert.ok(edges.has(b.block), `reused call ${call} touched '${b.block}' (${b.op})`);
    }
  }
  const steps = events.flatMap((e) => (e.type === "step" ? [e] : []));
  const reusedSteps = new Set(decisions.filter((d) => d.reused).map((d) => d.step));
  for (const s of steps) assert.equal(s.reused, reusedSteps.has(s.step), `step ${s.step} reused flag`);
  return reused;
}

/** What {@link assertStepCacheConforms} needs of a plugin besides its definition. */
export interface ConformanceOptions {
  /** Options with which the cache must reuse nothing (a threshold of 0, an empty list). */
  off: Record<string, unknown>;
  /** Options with which it reuses at least one call on the default model. */
  on: Record<string, unknown>;
}

/**
 * The shared conformance of a step-cache plugin definition on the default model (12 Euler steps).
 *
 * @example
 * ```ts ignore
 * await assertStepCacheConforms(teacache, { off: { threshold: 0 }, on: { threshold: 0.5 } }, inputs, baseline);
 * ```
 */
export async function assertStepCacheConforms(
  def: PluginDefinition<"step-cache">,
  o: ConformanceOptions,
  inputs: CacheInputs,
  baseline: Tensor<"float32">,
): Promise<void> {
  assert.equal(def.kind, "step-cache");
  const make = (options: Record<string, unknown>): StepCache => instantiate(def, options);

  // off: nothing reused, every call computed with a reason, the latent bit for bit the cache-free one
  const off = await denoiseCached(inputs, { cache: make(o.off) });
  const offDecisions = cacheEvents(off.events);
  assert.equal(offDecisions.length, off.calls, `${def.name}: one decision per call`);
  assert.ok(offDecisions.every((d) => !d.reused && d.reason.length > 0), `${def.name}: off reuses nothing`);
  assert.deepEqual(off.latent.dims, baseline.dims);
  assert.ok(off.latent.data.every((v, i) => Object.is(v, baseline.data[i])), `${def.name}: off is bit-equal`);

  // on: some calls reused, each with a reason, none of them loads or runs a middle block
  const on = await denoiseCached(inputs, { cache: make(o.on) });
  const reused = assertReusedCallsSkipMiddle(inputs.bundle, on.events);
  assert.ok(reused.length > 0, `${def.name}: the 'on' options reused nothing`);
  assert.ok(on.latent.data.every(Number.isFinite));
  assert.ok(on.latent.data.some((v, i) => v !== baseline.data[i]), `${def.name}: reuse changed nothing`);

  // cancellation: aborting after the 3rd call rejects and no later call starts
  const controller = new AbortController();
  let steps = 0;
  const seen: RunEvent[] = [];
  await assert.rejects(
    denoiseCached(inputs, {
      cache: make(o.on),
      signal: controller.signal,
      onEvent: (e) => {
        seen.push(e);
        if (e.type === "step" && ++steps === 3) controller.abort(new DOMException("stop", "AbortError"));
      },
    }),
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );
  assert.equal(seen.filter((e) => e.type === "step").length, 3);
  assert.ok(
    seen.every((e) => e.type !== "block" || e.op === "unload" || e.pass < 3),
    "a call started after abort",
  );
}
