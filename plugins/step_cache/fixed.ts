/**
 * A fixed reuse schedule (as LeMiCa precomputes one: Gao et al., "LeMiCa: Lexicographic Minimax Path
 * Caching for Efficient Diffusion-Based Video Generation", NeurIPS 2025, arXiv 2511.00090): the calls at the listed steps reuse the last computed residual, every other call
 * computes. An empty list reuses nothing.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../../runtime/core/registry.ts";

/** Options of the `fixed` step cache. */
export const fixedCacheOptions = z.object({
  /** Step indices whose calls reuse the cached residual (the first call always computes). */
  steps: z.array(z.number().int().min(0)).default([]),
}).strict();

/** The options of {@link fixedCache} after validation. */
export type FixedCacheOptions = z.infer<typeof fixedCacheOptions>;

/**
 * The `fixed` step-cache plugin definition.
 *
 * @example
 * ```ts ignore
 * const cache = instantiate(fixedCache, { steps: [3, 5, 7] });
 * cache.decide(query); // reuse at steps 3, 5 and 7 when a residual is cached
 * ```
 */
export const fixedCache = definePlugin({
  name: "fixed",
  kind: "step-cache",
  options: fixedCacheOptions,
  create(options: FixedCacheOptions) {
    const steps = new Set(options.steps);
    return {
      decide(q) {
        if (!steps.has(q.step)) return { reuse: false, reason: `step ${q.step} is not in the reuse list` };
        if (!q.reusable) {
          return { reuse: false, reason: `step ${q.step} is listed but no residual is cached` };
        }
        return { reuse: true, reason: `step ${q.step} is in the fixed reuse list` };
      },
      update() {},
    };
  },
});
