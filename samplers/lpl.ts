/**
 * LPL (Linear Proportional Leap, On-device Sora §4) with a fixed leap step: Euler for steps
 * 0..n−1, one more model call at step n, then the leap x ← x + v_n·t_n/1000 straight to t = 0
 * (n + 1 model calls instead of K).
 *
 * @module
 */
import { z } from "zod";
import { PluginError } from "../runtime/core/errors.ts";
import { definePlugin } from "../runtime/core/registry.ts";
import { sampleWithLeap } from "./_leap.ts";

/** Options of the `lpl` sampler. */
export const lplOptions = z.object({
  /** The step index n of the leap (the paper: 15 of 30 → 16 model calls). */
  leapAt: z.number().int().min(0).default(15),
}).strict();

/** The options of {@link lpl} after validation. */
export type LplOptions = z.infer<typeof lplOptions>;

/**
 * The `lpl` sampler plugin definition.
 *
 * @example
 * ```ts ignore
 * const sampler = instantiate(lpl, { leapAt: 15 });
 * const latent = await sampler.sample(model, noise, ctx); // 16 model calls for 30 timesteps
 * ```
 */
export const lpl = definePlugin({
  name: "lpl",
  kind: "sampler",
  options: lplOptions,
  create: ({ leapAt }) => ({
    sample(model, x, ctx) {
      const k = ctx.timesteps.length;
      if (leapAt >= k) {
        throw new PluginError(
          `Cannot leap at step '${leapAt}': the schedule has '${k}' steps`,
          "lpl",
          "sample",
        );
      }
      const leaps = (step: number) => step === leapAt;
      return sampleWithLeap(model, x, ctx, leaps, leaps);
    },
  }),
});
