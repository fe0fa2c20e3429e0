/**
 * How the runtime runs a sampler: it hands the sampler a model function that checks cancellation, counts
 * the calls and emits one `step` event per call itself, and turns the sampler's decisions into `decision`
 * events. So a sampler is its math alone, and every sampler reports the same way. A sampler may choose its
 * own schedule ({@link samplerSchedule}).
 *
 * @module
 */
import { PluginError } from "./errors.ts";
import type { Emit, ModelFn, Sampler, Tensor } from "./types.ts";

/** Options of {@link runSampler}. */
export interface RunSamplerOptions {
  /** The schedule t_0 > … > t_{K−1} in (0, 1000]. */
  timesteps: readonly number[];
  /** Receives the `step` and `decision` events. */
  emit: Emit;
  signal?: AbortSignal;
  /** Milliseconds, for the ETA (default `performance.now`). */
  now?: () => number;
  /**
   * Whether the call of a step reused a cached residual (a run with a step cache): step events then carry
   * `reused`, and the sampler can ask (`SampleContext.reused`).
   */
  reused?: (step: number) => boolean;
}

/**
 * `model` as a sampler sees it: it throws once `signal` is aborted, and after every call emits a `step` event
 * (step index, timestep, calls so far, ETA over the schedule's `total` steps). `calls()` counts the calls.
 *
 * @example
 * ```ts
 * import { reportingModel } from "./sample.ts";
 * const events: unknown[] = [];
 * const model = reportingModel((x) => Promise.resolve(x), { total: 2, emit: (e) => events.push(e) });
 * ```
 */
export function reportingModel(
  model: ModelFn,
  o: {
    total: number;
    emit: Emit;
    signal?: AbortSignal;
    now?: () => number;
    reused?: (step: number) => boolean;
  },
): ModelFn & { calls(): number } {
  const now = o.now ?? (() => performance.now());
  const started = now();
  let calls = 0;
  const reporting: ModelFn = async (x, t, step, options) => {
    o.signal?.throwIfAborted();
    const v = await model(x, t, step, options);
    calls++;
    const perStep = (now() - started) / (step + 1);
    const etaMs = Math.max(0, o.total - step - 1) * perStep;
    const reused = o.reused ? { reused: o.reused(step) } : {};
    o.emit({ type: "step", step, total: o.total, t, calls, etaMs, ...reused });
    return v;
  };
  return Object.assign(reporting, { calls: () => calls });
}

/**
 * Run `sampler` from `x` over `model` as the denoise loop does; returns the latent and the model calls made.
 *
 * @example
 * ```ts ignore
 * const { latent, calls } = await runSampler(sampler, model, noise, { timesteps, emit: console.log });
 * ```
 */
export async function runSampler(
  sampler: Sampler,
  model: ModelFn,
  x: Tensor<"float32">,
  o: RunSamplerOptions,
): Promise<{ latent: Tensor<"float32">; calls: number }> {
  const { timesteps, emit, signal, now, reused } = o;
  const reporting = reportingModel(model, { total: timesteps.length, emit, signal, now, reused });
  const latent = await sampler.sample(reporting, x, {
    timesteps,
    signal,
    reused,
    onDecision: ({ step, message, data }) =>
      emit({ type: "decision", sampler: sampler.name, step, message, data }),
  });
  return { latent, calls: reporting.calls() };
}

/**
 * The schedule `sampler` integrates over: its own choice given the run's `timesteps`, or the run's. A chosen
 * schedule must be strictly decreasing in (0, 1000], or this throws a `PluginError`.
 *
 * @example
 * ```ts ignore
 * const timesteps = samplerSchedule(sampler, rflowTimesteps({ steps: 30, height, width, frames }));
 * ```
 */
export function samplerSchedule(sampler: Sampler, timesteps: readonly number[]): readonly number[] {
  if (!sampler.schedule) return timesteps;
  let chosen: readonly number[];
  try {
    chosen = sampler.schedule(timesteps);
  } catch (e) {
    throw new PluginError(
      `Cannot schedule with '${sampler.name}': ${(e as Error).message}`,
      sampler.name,
      "schedule",
      {
        cause: e,
      },
    );
  }
  const ok = Array.isArray(chosen) && chosen.length > 0 &&
    chosen.every((t, i) => Number.isFinite(t) && t > 0 && t <= 1000 && (i === 0 || t < chosen[i - 1]));
  if (!ok) {
    throw new PluginError(
      `Cannot schedule with '${sampler.name}': its timesteps are not strictly decreasing in (0, 1000]`,
      sampler.name,
      "schedule",
    );
  }
  return chosen;
}
