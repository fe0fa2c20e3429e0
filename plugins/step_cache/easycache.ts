/**
 * EasyCache (Zhou et al., "Less is Enough: Training-Free Video Diffusion Acceleration via Runtime-Adaptive
 * Caching", 2025, arXiv 2507.02860, github.com/H-EmbodVis/EasyCache) as a step cache, with no calibration:
 * after two computed calls it knows the transformation rate k = |Δ output| / |Δ input| (mean L1 of the middle blocks' output
 * and input changes between them); at a later call it estimates the relative output change as
 * k·|Δ input| / |last output| and accumulates it; while the sum stays below `threshold` the call reuses the
 * last computed residual. The first `warmup` calls and the last step always compute.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../../runtime/core/registry.ts";
import { inputOf, meanAbs, meanAbsDiff } from "./signals.ts";

/** Options of the `easycache` step cache. */
export const easycacheOptions = z.object({
  /** Reuse while the accumulated estimated relative output change stays below this (0 = compute every call). */
  threshold: z.number().min(0).default(0.05),
  /** Calls computed before any reuse (a count, or a percentage of the steps such as "10%"). */
  warmup: z.union([z.number().int().min(2), z.string().regex(/^\d+(\.\d+)?%$/)]).default("10%"),
  /** Always compute the last step. */
  computeLast: z.boolean().default(true),
}).strict();

/** The options of {@link easycache} after validation. */
export type EasycacheOptions = z.infer<typeof easycacheOptions>;

/**
 * The `easycache` step-cache plugin definition.
 *
 * @example
 * ```ts ignore
 * const cache = instantiate(easycache, { threshold: 0.05 });
 * cache.decide(query); // { reuse, reason, data }
 * ```
 */
export const easycache = definePlugin({
  name: "easycache",
  kind: "step-cache",
  options: easycacheOptions,
  create({ threshold, warmup, computeLast }: EasycacheOptions) {
    let previousInput: Float32Array | null = null;
    let computed: { input: Float32Array; output: Float32Array } | null = null;
    let rate: number | null = null;
    let accumulated = 0;
    return {
      decide(q) {
        const input = inputOf(q.signals);
        const before = previousInput;
        previousInput = input;
        const warm = typeof warmup === "number" ? warmup : Math.ceil(parseFloat(warmup) / 100 * q.total);
        if (q.step < Math.max(2, warm)) {
          return { reuse: false, reason: `warm-up call (first ${Math.max(2, warm)})` };
        }
        if (rate === null || before === null || computed === null) {
          return { reuse: false, reason: "no transformation rate measured yet" };
        }
        const estimate = rate * meanAbsDiff(input, before) / Math.max(meanAbs(computed.output), 1e-12);
        accumulated += estimate;
        const data = { rate, estimate, accumulated, threshold };
        if (computeLast && q.step === q.total - 1) {
          return { reuse: false, reason: "the last step is always computed", data };
        }
        if (!q.reusable) return { reuse: false, reason: "no residual to reuse", data };
        const sum = accumulated.toFixed(4);
        return accumulated < threshold
          ? {
            reuse: true,
            reason: `estimated output change ${sum} (rate ${rate.toFixed(3)}) < threshold ${threshold}`,
            data,
          }
          : { reuse: false, reason: `estimated output change ${sum} ≥ threshold ${threshold}`, data };
      },
      update(q, residual) {
        const input = inputOf(q.signals);
        const output = new Float32Array(input.length);
        for (let i = 0; i < output.length; i++) output[i] = input[i] + residual.data[i];
        if (computed) {
          const dIn = meanAbsDiff(input, computed.input);
          if (dIn > 0) rate = meanAbsDiff(output, computed.output) / dIn;
        }
        computed = { input, output };
        accumulated = 0;
      },
    };
  },
});
