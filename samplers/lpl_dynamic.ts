/**
 * Dynamic LPL: Euler steps while the cosine similarity of consecutive guided velocities (drifts) keeps
 * improving; once it has not beaten its best by more than `tolerance` for `patience` checks in a row
 * (and the step is at least `minSteps`), leap to t = 0 with the current velocity.
 *
 * Presets: `paper` (the paper's rule: whole-tensor cosine, tolerance 1e-4, patience 3, minSteps 50% of K)
 * and `reference` (the authors' code: row cosine of the [H, W] slice at batch 0, channel 0, frame 0,
 * tolerance 1e-3, patience 3, checks from step 14, so the earliest leap is step 16). Explicit options
 * override the preset's values.
 *
 * With a step cache, a cosine counts only between two computed drifts of consecutive steps: when either
 * call reused a cached residual, the cosine is reported as "not evidence" and neither improves nor misses
 * (so the leap always uses a computed drift).
 *
 * @module
 */
import { z } from "zod";
import { PluginError } from "../runtime/core/errors.ts";
import { definePlugin } from "../runtime/core/registry.ts";
import type { Tensor } from "../runtime/core/types.ts";
import { cosineFirstSliceRows, cosineFull } from "./_cosine.ts";
import { sampleWithLeap } from "./_leap.ts";

/** Options of the `lpl-dynamic` sampler. */
export const lplDynamicOptions = z.object({
  preset: z.enum(["paper", "reference"]).default("paper"),
  /** What the cosine compares: the whole velocity, or the authors' first [H, W] slice (row mean). */
  region: z.enum(["full", "first-slice-rows"]).optional(),
  /** An improvement must beat the best cosine so far by more than this. */
  tolerance: z.number().min(0).optional(),
  /** Leap after this many checks in a row without improvement. */
  patience: z.number().int().min(1).optional(),
  /** No leap before this step index: a count, or a percentage of K such as "50%". */
  minSteps: z.union([z.number().int().min(0), z.string().regex(/^\d+(\.\d+)?%$/)]).optional(),
  /** The first step index whose cosine is checked (earlier cosines are only reported). */
  checkFrom: z.number().int().min(1).optional(),
}).strict();

/** The options of {@link lplDynamic} after validation. */
export type LplDynamicOptions = z.infer<typeof lplDynamicOptions>;

const PRESETS = {
  paper: { region: "full", tolerance: 1e-4, patience: 3, minSteps: "50%", checkFrom: 1 },
  reference: { region: "first-slice-rows", tolerance: 1e-3, patience: 3, minSteps: 0, checkFrom: 14 },
} as const;

function stepsOf(minSteps: number | string, total: number): number {
  return typeof minSteps === "number" ? minSteps : Math.ceil((parseFloat(minSteps) / 100) * total);
}

/**
 * The `lpl-dynamic` sampler plugin definition. Emits one decision per measured cosine and one for the leap.
 *
 * @example
 * ```ts ignore
 * const sampler = instantiate(lplDynamic, { preset: "reference" });
 * const latent = await sampler.sample(model, noise, ctx); // decisions carry each cosine and the leap step
 * ```
 */
export const lplDynamic = definePlugin({
  name: "lpl-dynamic",
  kind: "sampler",
  options: lplDynamicOptions,
  create(options: LplDynamicOptions) {
    const o = {
      ...PRESETS[options.preset],
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    };
    const cosine = o.region === "full" ? cosineFull : cosineFirstSliceRows;
    return {
      async sample(model, x, ctx) {
        const minSteps = stepsOf(o.minSteps, ctx.timesteps.length);
        if (minSteps >= ctx.timesteps.length) {
          throw new PluginError(
            `Cannot sample with lpl-dynamic: minSteps '${minSteps}' leaves no step of '${ctx.timesteps.length}' to leap at`,
            "lpl-dynamic",
            "sample",
          );
        }
        let prev: Tensor<"float32"> | null = null;
        let prevReused = false;
        let best = 0;
        let misses = 0;
        return await sampleWithLeap(model, x, ctx, (step, v) => {
          const before = prev;
          const reused = ctx.reused?.(step) === true;
          const approximated = reused || prevReused;
          [prev, prevReused] = [v, reused];
          if (before === null) return false;
          const cos = Math.fround(cosine(v, before)); // the authors compare float32 values
          if (approximated) {
            ctx.onDecision({
              step,
              message: `cosine ${
                cos.toFixed(6)
              } at step ${step}: not evidence (a cached residual was reused)`,
              data: { cosine: cos, best: null, checked: false, improved: false, misses, leap: false },
            });
            return false;
          }
          const checked = step >= o.checkFrom;
          const improved = checked && cos > Math.fround(best + o.tolerance);
          if (improved) [best, misses] = [cos, 0];
          else if (checked) misses++;
          const leap = checked && misses >= o.patience && step >= minSteps;
          const state = !checked
            ? "not checked yet"
            : improved
            ? "improved"
            : `no improvement ${misses}/${o.patience}`;
          ctx.onDecision({
            step,
            message: `cosine ${cos.toFixed(6)} at step ${step}: ${state}`,
            data: { cosine: cos, best: checked ? best : null, checked, improved, misses, leap },
          });
          return leap;
        });
      },
    };
  },
});
