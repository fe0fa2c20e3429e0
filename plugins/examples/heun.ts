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
 * A plugin module exports `plugin`: a name, a kind, a zod schema for its options, and a factory that gets
 * the validated options. The sampler it creates is the math alone: it calls `model(x, t, step)` for the
 * guided velocity (the runtime's model function reports each call and stops a cancelled run). A plugin
 * outside this repository imports the same names from the package's `plugin.ts` and tests itself with
 * `assertSamplerConforms(plugin, { order: 2 })`.
 *
 * Heun per step i (dt = (t_i − t_{i+1})/1000, t_K = 0): v1 = v(x, t_i); x̃ = x + v1·dt;
 * v2 = v(x̃, t_{i+1}); x ← x + (v1 + v2)/2·dt. Two model calls per step, one for the last step when
 * `finalEuler` is on (t_K = 0 is the data end, where the model was never trained to be queried).
 *
 * @module
 */
import { z } from "zod";
import {
  addScaled,
  definePlugin,
  eulerDt,
  type ModelFn,
  type SampleContext,
  sub,
  type Tensor,
} from "../../plugin.ts";

const heunOptions = z.object({ finalEuler: z.boolean().default(true) }).strict();

/** Options of the Heun example sampler. */
export type HeunOptions = z.infer<typeof heunOptions>;

/**
 * Integrate with Heun's method; K or 2K − 1 model calls.
 *
 * @example
 * ```ts
 * import { sampleHeun } from "./heun.ts";
 * import { fromArray, full } from "../../runtime/core/tensor.ts";
 * const model = (x: ReturnType<typeof full>) => Promise.resolve(full(x.dims, 1));
 * const out = await sampleHeun(model, fromArray([1], [0]), { timesteps: [1000, 500], onDecision() {} }, { finalEuler: true });
 * console.assert(Math.abs(out.data[0] - 1) < 1e-6);
 * ```
 */
export async function sampleHeun(
  model: ModelFn,
  x: Tensor<"float32">,
  { timesteps: ts }: SampleContext,
  { finalEuler }: HeunOptions,
): Promise<Tensor<"float32">> {
  for (let i = 0; i < ts.length; i++) {
    const dt = eulerDt(ts, i);
    const v1 = await model(x, ts[i], i);
    const predicted = addScaled(x, v1, dt);
    if (i === ts.length - 1 && finalEuler) {
      x = predicted;
      continue;
    }
    const v2 = await model(predicted, i + 1 < ts.length ? ts[i + 1] : 0, i);
    x = addScaled(x, addScaled(v1, sub(v2, v1), 0.5), dt);
  }
  return x;
}

/** The plugin a recipe loads with `plugin: ./plugins/examples/heun.ts`. */
export const plugin = definePlugin({
  name: "heun",
  kind: "sampler",
  options: heunOptions,
  create: (options) => ({ sample: (model, x, ctx) => sampleHeun(model, x, ctx, options) }),
});
