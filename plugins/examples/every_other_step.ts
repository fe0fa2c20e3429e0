/**
 * Example step-cache plugin: from step `from` on, every `every`-th call reuses the last computed residual
 * (`every: 0` reuses nothing). Point a recipe at it:
 *
 * ```yaml
 * step_cache:
 *   plugin: ./plugins/examples/every_other_step.ts   # a path (relative to the recipe)
 *   every: 2
 * ```
 *
 * A step cache exports `plugin` (`definePlugin({ name, kind: "step-cache", options, create })`; `create` gets
 * the validated options and returns the hooks alone); the instance answers
 * `decide(query)` with `{ reuse, reason }` before each model call (after the first block ran; `query.signals`
 * holds that block's outputs) and receives `update(query, residual)` after each computed call.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../../runtime/core/registry.ts";

const options = z.object({
  /** Reuse every n-th call (0 = never). */
  every: z.number().int().min(0).default(2),
  /** No reuse before this step. */
  from: z.number().int().min(1).default(2),
}).strict();

/** The example's plugin definition. */
export const plugin = definePlugin({
  name: "every-other-step",
  kind: "step-cache",
  options,
  create: ({ every, from }) => ({
    decide(q) {
      const pick = every > 0 && q.step >= from && (q.step - from) % every === every - 1;
      if (!pick) return { reuse: false, reason: `step ${q.step} is not an every-${every} step` };
      return { reuse: q.reusable, reason: `step ${q.step} is an every-${every} step from ${from}` };
    },
    update() {},
  }),
});
