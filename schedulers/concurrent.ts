/**
 * The `concurrent` memory scheduler (the CI of On-device Sora's CI-DL): every block is loaded, run and
 * unloaded on every pass, but while block i runs on one lane, blocks i+1..i+prefetch load on the others,
 * so loading hides behind compute. Holds at most `prefetch + 1` blocks plus one block's working memory.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../runtime/core/registry.ts";
import { checkBudget, laneCost } from "./budget.ts";
import { planPeakBytes } from "./_plan_peak.ts";
import { streamingPlan } from "./_streaming_plan.ts";

/** Options of the `concurrent` scheduler. */
export const concurrentOptions = z.object({
  /** Blocks loading ahead of the running one (each on its own lane). */
  prefetch: z.number().int().min(1).max(8).default(1),
}).strict();

/** The options of {@link concurrent} after validation. */
export type ConcurrentOptions = z.infer<typeof concurrentOptions>;

/**
 * The `concurrent` scheduler plugin definition. Throws `BudgetError` when a budget is set and cannot hold
 * the blocks in flight.
 *
 * @example
 * ```ts ignore
 * const scheduler = instantiate(concurrent, { prefetch: 1 });
 * const plan = scheduler.plan({ stage: "denoiser", blocks, passes: 30 }, { bytes: null });
 * plan.lanes; // 2
 * ```
 */
export const concurrent = definePlugin({
  name: "concurrent",
  kind: "scheduler",
  options: concurrentOptions,
  create: ({ prefetch }) => ({
    plan(stage, budget) {
      const sections = streamingPlan(stage, { resident: 0, prefetch });
      const peakBytes = planPeakBytes(sections, stage.blocks) + laneCost(budget, sections.lanes);
      checkBudget("concurrent", stage, peakBytes, budget, `streaming with '${prefetch}' block(s) prefetched`);
      return { ...sections, peakBytes };
    },
  }),
});
