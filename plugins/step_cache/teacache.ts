/**
 * TeaCache (Liu et al., "Timestep Embedding Tells: It's Time to Cache for Video Diffusion Model", CVPR
 * 2025, arXiv 2411.19108, github.com/ali-vilab/TeaCache) as a step cache: the relative L1 change of the first block's
 * timestep-modulated input between consecutive calls, rescaled by a polynomial fitted to how much the
 * middle blocks' residual changes (`deno task calibrate`), is accumulated; while the sum stays below
 * `threshold` the call reuses the last computed residual, otherwise it computes and the sum restarts.
 * The first call, the last one unless `computeLast` is false, and a call whose input change lies beyond
 * the calibrated range (`maxChange`) always compute.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../../runtime/core/registry.ts";
import { modulatedInput, polyval, relL1 } from "./signals.ts";
import fitted from "./teacache_fit.json" with { type: "json" };

/** The polynomial `deno task calibrate --write` fitted for the default model (models/default). */
export const DEFAULT_COEFFICIENTS: readonly number[] = fitted.coefficients;

/** The largest input change the default model's calibration saw (the fit is not trusted beyond it). */
export const DEFAULT_MAX_CHANGE: number = fitted.xRange[1];

/** Options of the `teacache` step cache. */
export const teacacheOptions = z.object({
  /** Reuse while the accumulated rescaled change stays below this (0 = compute every call). */
  threshold: z.number().min(0).default(0.3),
  /** The rescaling polynomial, highest degree first (fit one for a bundle with `deno task calibrate`). */
  coefficients: z.array(z.number()).min(1).default([...DEFAULT_COEFFICIENTS]),
  /**
   * The largest input change the polynomial was fitted on: a larger change computes (a fitted polynomial
   * says nothing outside its range). `deno task calibrate` prints it with the coefficients.
   */
  maxChange: z.number().positive().default(DEFAULT_MAX_CHANGE),
  /** Always compute the last step. */
  computeLast: z.boolean().default(true),
}).strict();

/** The options of {@link teacache} after validation. */
export type TeacacheOptions = z.infer<typeof teacacheOptions>;

/**
 * The `teacache` step-cache plugin definition.
 *
 * @example
 * ```ts ignore
 * const cache = instantiate(teacache, { threshold: 0.3 });
 * cache.decide(query); // { reuse, reason, data }
 * ```
 */
export const teacache = definePlugin({
  name: "teacache",
  kind: "step-cache",
  options: teacacheOptions,
  create({ threshold, coefficients, maxChange, computeLast }: TeacacheOptions) {
    let previous: Float32Array | null = null;
    let accumulated = 0;
    return {
      decide(q) {
        const current = modulatedInput(q.signals);
        const before = previous;
        previous = current;
        if (before === null) return { reuse: false, reason: "first call: no earlier input to compare" };
        const change = relL1(current, before);
        if (change > maxChange) {
          accumulated = 0;
          const reason = `input change ${change.toFixed(4)} beyond the calibrated ${maxChange.toFixed(4)}`;
          return { reuse: false, reason, data: { change, estimate: null, accumulated, threshold } };
        }
        const estimate = Math.max(0, polyval(coefficients, change));
        accumulated += estimate;
        const data = { change, estimate, accumulated, threshold };
        if (computeLast && q.step === q.total - 1) {
          return { reuse: false, reason: "the last step is always computed", data };
        }
        if (!q.reusable) return { reuse: false, reason: "no residual to reuse", data };
        if (accumulated < threshold) {
          return {
            reuse: true,
            reason: `accumulated rescaled input change ${accumulated.toFixed(4)} < threshold ${threshold}`,
            data,
          };
        }
        return {
          reuse: false,
          reason: `accumulated rescaled input change ${accumulated.toFixed(4)} ≥ threshold ${threshold}`,
          data,
        };
      },
      update() {
        accumulated = 0;
      },
    };
  },
});
