/**
 * Example sampler plugin: Heun's second-order method on the rectified flow. Copy this file, change the
 * math, and point a recipe at it:
 *
 * ```yaml
 * sampler:
 *   plugin: ./plugins/examples/heun.ts   # a path (relative to the recipe) instead of a built-in name
 *   finalEuler: true                     # this plugin's own options, validated by its zod schema
 * ```
 *
 * A plugin module exports `plugin`: a name, a kind, a zod schema for its options, and a factory. The
 * sampler it creates is one function of (model, x, ctx): it calls `model(x, t, step)` for the guided
 * velocity, reports every model call with `ctx.onStep`, and checks `ctx.signal` between calls.
 *
 * Heun per step i (dt = (t_i − t_{i+1})/1000, t_K = 0): v1 = v(x, t_i); x̃ = x + v1·dt;
 * v2 = v(x̃, t_{i+1}); x ← x + (v1 + v2)/2·dt. Two model calls per step, one for the last step when
 * `finalEuler` is on (t_K = 0 is the data end, where the model was never trained to be queried).
 *
 * @module
 */
import { z } from "zod";
import { addScaled, sub } from "../../runtime/tensor.ts";
import type { ModelFn, PluginDefinition, SampleContext, Sampler, Tensor } from "../../runtime/types.ts";
import { eulerDt } from "../../samplers/euler.ts";

/** Options of the Heun example sampler. */
export interface HeunOptions {
  /** Take a plain Euler step for the last step instead of querying the model at t = 0. */
  finalEuler: boolean;
}

const heunOptions: z.ZodType<HeunOptions> = z.object({ finalEuler: z.boolean().default(true) }).strict();

/**
 * Integrate with Heun's method; K or 2K − 1 model calls.
 *
 * @example
 * ```ts
 * import { sampleHeun } from "./heun.ts";
 * import { fromArray, full } from "../../runtime/tensor.ts";
 * const model = (x: ReturnType<typeof full>) => Promise.resolve(full(x.dims, 1));
 * const ctx = { timesteps: [1000, 500], onStep() {}, onDecision() {} };
 * const out = await sampleHeun(model, fromArray([1], [0]), ctx, { finalEuler: true });
 * console.assert(Math.abs(out.data[0] - 1) < 1e-6);
 * ```
 */
export async function sampleHeun(
  model: ModelFn,
  x: Tensor<"float32">,
  ctx: SampleContext,
  options: HeunOptions,
): Promise<Tensor<"float32">> {
  const ts = ctx.timesteps;
  let calls = 0;
  for (let i = 0; i < ts.length; i++) {
    ctx.signal?.throwIfAborted();
    const dt = eulerDt(ts, i);
    const v1 = await model(x, ts[i], i);
    ctx.onStep({ step: i, t: ts[i], calls: ++calls });
    const predicted = addScaled(x, v1, dt);
    if (i === ts.length - 1 && options.finalEuler) {
      x = predicted;
      continue;
    }
    ctx.signal?.throwIfAborted();
    const tNext = i + 1 < ts.length ? ts[i + 1] : 0;
    const v2 = await model(predicted, tNext, i);
    ctx.onStep({ step: i, t: tNext, calls: ++calls });
    const mean = addScaled(v1, sub(v2, v1), 0.5);
    x = addScaled(x, mean, dt);
  }
  return x;
}

/** The plugin a recipe loads with `plugin: ./plugins/examples/heun.ts`. */
export const plugin: PluginDefinition<"sampler", typeof heunOptions> = {
  name: "heun",
  kind: "sampler",
  options: heunOptions,
  create: (options: HeunOptions): Sampler => ({
    name: "heun",
    kind: "sampler",
    sample: (model, x, ctx) => sampleHeun(model, x, ctx, options),
  }),
};
