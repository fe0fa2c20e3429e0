/**
 * The `concurrent` memory scheduler (the CI of On-device Sora's CI-DL): every block is loaded, run and
 * unloaded on every pass, but while block i runs on one lane, blocks i+1..i+prefetch load on the others,
 * so loading hides behind compute. Holds at most `prefetch + 1` blocks plus one block's working memory.
 *
 * @module
 */
import { z } from "zod";
import type { MemoryScheduler, Plan, PluginDefinition } from "../runtime/types.ts";
import { checkBudget, laneCost } from "./_budget.ts";
import { planPeakBytes } from "./_plan_peak.ts";
import { streamingPlan } from "./_streaming_plan.ts";

/** Options of the `concurrent` scheduler. */
export const concurrentOptions: z.ZodType<ConcurrentOptions> = z.object({
  /** Blocks loading ahead of the running one (each on its own lane). */
  prefetch: z.number().int().min(1).max(8).default(1),
}).strict();

/** The options of {@link concurrent} after validation. */
export interface ConcurrentOptions {
  /** Blocks loading ahead of the running one. */
  prefetch: number;
}

/**
 * The `concurrent` scheduler plugin definition. Throws `BudgetError` when a budget is set and cannot hold
 * the blocks in flight.
 *
 * @example
 * ```ts
 * const scheduler = concurrent.create(concurrent.options.parse({ prefetch: 1 }));
 * const plan = scheduler.plan({ stage: "denoiser", blocks, passes: 30 }, { bytes: null });
 * plan.lanes; // 2
 * ```
 */
export const concurrent: PluginDefinition<"scheduler", typeof concurrentOptions> = {
  name: "concurrent",
  kind: "scheduler",
  options: concurrentOptions,
  create(options: ConcurrentOptions): MemoryScheduler {
    const { prefetch } = concurrentOptions.parse(options);
    return {
      name: "concurrent",
      kind: "scheduler",
      plan(stage, budget): Plan {
        const sections = streamingPlan(stage, { resident: 0, prefetch });
        const peakBytes = planPeakBytes(sections, stage.blocks) + laneCost(budget, sections.lanes);
        checkBudget(
          "concurrent",
          stage,
          peakBytes,
          budget,
          `streaming with '${prefetch}' block(s) prefetched`,
        );
        return {
          scheduler: "concurrent",
          stage: stage.stage,
          ...sections,
          peakBytes,
          budgetBytes: budget.bytes,
        };
      },
    };
  },
};
