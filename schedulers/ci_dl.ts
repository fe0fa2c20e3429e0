/**
 * The `ci-dl` memory scheduler (On-device Sora §6, Concurrent Inference with Dynamic Loading): keep the
 * first k blocks resident across passes and stream the rest with prefetch, choosing k (and, if the budget
 * is tight, less prefetch) so that resident blocks + the running block + the prefetched ones + one block's
 * working memory never exceed the budget. The budget is the recipe's, or the machine's available memory
 * when the recipe sets none (measured once by the pipeline and handed over with the budget). Block sizes are the measured ones from the bundle, never a constant.
 *
 * @module
 */
import { z } from "zod";
import { PluginError } from "../runtime/core/errors.ts";
import { definePlugin } from "../runtime/core/registry.ts";
import type { Budget, StageInfo } from "../runtime/core/types.ts";
import { checkEachBlock, laneCost } from "./budget.ts";
import { planPeakBytes } from "./_plan_peak.ts";
import { type StreamingPlan, streamingPlan } from "./_streaming_plan.ts";

/** Options of the `ci-dl` scheduler. */
export const ciDlOptions = z.object({
  /** Blocks loading ahead of the running one when the budget allows (fewer when it does not). */
  prefetch: z.number().int().min(0).max(8).default(1),
  /**
   * Keep the last block resident as well when the budget allows (it is tried first for each count of
   * leading resident blocks): a step cache's reused calls run only the first and last blocks, so they
   * then load nothing.
   */
  residentLast: z.boolean().default(false),
}).strict();

/** The options of {@link ciDl} after validation. */
export type CiDlOptions = z.infer<typeof ciDlOptions>;

/**
 * The plan with the most prefetch (up to `prefetch`) and then the most resident blocks that fits
 * `budget` (the lanes it starts included, see {@link Budget}), or `null` when not even one block at a time
 * fits. A number is a budget with no lane cost.
 *
 * @example
 * ```ts
 * const fit = fitStreamingPlan(stage, 3.3e9, 1);
 * fit?.plan.resident.length; // k
 * ```
 */
export function fitStreamingPlan(
  stage: StageInfo,
  budget: number | Budget,
  prefetch: number,
  residentLastFirst = false,
): { plan: StreamingPlan; peakBytes: number } | null {
  const b: Budget = typeof budget === "number" ? { bytes: budget } : budget;
  const limit = b.bytes ?? Infinity;
  for (let depth = prefetch; depth >= 0; depth--) {
    for (let k = stage.blocks.length; k >= 0; k--) {
      // keeping the last block too (when it is not among the first k) lets a reused step load nothing
      for (const residentLast of residentLastFirst && k < stage.blocks.length - 1 ? [true, false] : [false]) {
        const plan = streamingPlan(stage, { resident: k, prefetch: depth, residentLast });
        const peakBytes = planPeakBytes(plan, stage.blocks) + laneCost(b, plan.lanes);
        if (peakBytes <= limit) return { plan, peakBytes };
      }
    }
  }
  return null;
}

/**
 * The `ci-dl` scheduler plugin definition. Throws `BudgetError` before any work when the budget cannot
 * hold a single block with its working memory.
 *
 * @example
 * ```ts ignore
 * const scheduler = instantiate(ciDl, {});
 * const plan = scheduler.plan({ stage: "denoiser", blocks, passes: 30 }, { bytes: 3.3e9 });
 * plan.resident; // the first k blocks, kept across passes
 * ```
 */
export const ciDl = definePlugin({
  name: "ci-dl",
  kind: "scheduler",
  options: ciDlOptions,
  create: ({ prefetch, residentLast }) => ({
    plan(stage, budget) {
      const bytes = budget.bytes ?? budget.availableBytes;
      if (bytes === undefined) {
        throw new PluginError(
          `Cannot plan stage '${stage.stage}' with scheduler 'ci-dl': there is no budget and no available memory`,
          "ci-dl",
          "plan",
        );
      }
      checkEachBlock("ci-dl", stage, { ...budget, bytes });
      const fit = fitStreamingPlan(stage, { ...budget, bytes }, prefetch, residentLast)!; // sequential streaming fits once each block does
      return { ...fit.plan, peakBytes: fit.peakBytes, budgetBytes: bytes };
    },
  }),
});
