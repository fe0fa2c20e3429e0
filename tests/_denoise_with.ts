/**
 * Run the denoise loop of a bundle with a chosen sampler, token ops and memory scheduler on the local
 * executor (test and bench helper): returns the latent, the events and the plan.
 *
 * @module
 */
import { type Bundle, loadBundle } from "../runtime/bundle/bundle.ts";
import { denoise, type DenoiseInputs } from "../runtime/core/denoise.ts";
import { local } from "../runtime/local/executor_local.ts";
import { availableBytes } from "../runtime/core/memory.ts";
import { openStage } from "../runtime/core/stage.ts";
import type {
  Executor,
  MemoryScheduler,
  Plan,
  RunEvent,
  Sampler,
  StepCache,
  Tensor,
  TokenOp,
} from "../runtime/core/types.ts";

/** What {@link denoiseWith} needs besides the bundle. */
export interface DenoiseWithOptions extends DenoiseInputs {
  sampler: Sampler;
  tokenOps?: readonly TokenOp[];
  stepCache?: StepCache | null;
  scheduler: MemoryScheduler;
  budgetBytes?: number | null;
  /** Working memory of one block inference (per block name or one figure), as the planner sees it. */
  workBytes?: number | Readonly<Record<string, number>>;
  cfgScale?: number;
  /** An executor to reuse; by default a fresh local one (1 thread per lane) that is closed at the end. */
  executor?: Executor;
  threads?: number;
  onEvent?: (e: RunEvent) => void;
  signal?: AbortSignal;
}

/** The result of {@link denoiseWith}. */
export interface DenoiseWithResult {
  latent: Tensor<"float32">;
  calls: number;
  plan: Plan;
  events: RunEvent[];
}

/**
 * Denoise on `bundle` (a folder or a loaded bundle) with the given plugins.
 *
 * @example
 * ```ts ignore
 * const { latent, plan } = await denoiseWith("models/default", { sampler, scheduler, noise, y, yMask, yNull,
 *   timesteps, fps: 24, height: 64, width: 64 });
 * ```
 */
export async function denoiseWith(
  bundle: string | Bundle,
  o: DenoiseWithOptions,
): Promise<DenoiseWithResult> {
  const b = typeof bundle === "string" ? await loadBundle(bundle) : bundle;
  const events: RunEvent[] = [];
  const emit = (e: RunEvent) => {
    events.push(e);
    o.onEvent?.(e);
  };
  const executor = o.executor ?? local.create(local.options.parse({ threads: o.threads ?? 1 }));
  try {
    const runner = await openStage({
      bundle: b,
      stage: "denoiser",
      executor,
      scheduler: o.scheduler,
      budget: { bytes: o.budgetBytes ?? null, availableBytes: availableBytes() },
      passes: o.timesteps.length,
      workBytes: o.workBytes,
      emit,
      signal: o.signal,
    });
    try {
      const { latent, calls } = await denoise({
        bundle: b,
        runner,
        sampler: o.sampler,
        tokenOps: o.tokenOps ?? [],
        stepCache: o.stepCache ?? null,
        noise: o.noise,
        y: o.y,
        yMask: o.yMask,
        yNull: o.yNull,
        cfgScale: o.cfgScale ?? 7,
        timesteps: o.timesteps,
        fps: o.fps,
        height: o.height,
        width: o.width,
        emit,
        signal: o.signal,
      });
      return { latent, calls, plan: runner.plan, events };
    } finally {
      await runner.close();
    }
  } finally {
    if (!o.executor) await executor.close();
  }
}
