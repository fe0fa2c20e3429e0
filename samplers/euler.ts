/**
 * The `euler` sampler: Open-Sora v1.2's rectified-flow Euler integration,
 * z ← z + v(z, t_i)·(t_i − t_{i+1})/1000 with t_K = 0, in float32 arithmetic as the reference.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../runtime/core/registry.ts";
import { addScaled } from "../runtime/core/tensor.ts";
import type { ModelFn, SampleContext, Tensor } from "../runtime/core/types.ts";

const f = Math.fround;

/** The Euler step size of step `i`: (t_i − t_{i+1})/1000, or t_{K−1}/1000 for the last step (float32). */
export function eulerDt(timesteps: readonly number[], i: number): number {
  const span = i < timesteps.length - 1 ? f(timesteps[i] - timesteps[i + 1]) : f(timesteps[i]);
  return f(span / 1000);
}

/**
 * Integrate from noise to data with K model calls.
 *
 * @example
 * ```ts
 * import { sampleEuler } from "./euler.ts";
 * import { fromArray, full } from "../runtime/core/tensor.ts";
 * const model = (x: ReturnType<typeof full>) => Promise.resolve(full(x.dims, 1));
 * const out = await sampleEuler(model, fromArray([1], [0]), { timesteps: [1000, 500], onDecision() {} });
 * console.assert(Math.abs(out.data[0] - 1) < 1e-6);
 * ```
 */
export async function sampleEuler(
  model: ModelFn,
  x: Tensor<"float32">,
  ctx: SampleContext,
): Promise<Tensor<"float32">> {
  const ts = ctx.timesteps;
  for (let i = 0; i < ts.length; i++) x = addScaled(x, await model(x, ts[i], i), eulerDt(ts, i));
  return x;
}

/** The `euler` sampler plugin (no options). */
export const euler = definePlugin({
  name: "euler",
  kind: "sampler",
  options: z.object({}).strict(),
  create: () => ({ sample: sampleEuler }),
});
