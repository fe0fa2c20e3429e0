/**
 * The `euler` sampler: Open-Sora v1.2's rectified-flow Euler integration,
 * z ← z + v(z, t_i)·(t_i − t_{i+1})/1000 with t_K = 0, in float32 arithmetic as the reference.
 *
 * @module
 */
import { z } from "zod";
import { addScaled } from "../runtime/tensor.ts";
import type { ModelFn, PluginDefinition, SampleContext, Sampler, Tensor } from "../runtime/types.ts";

const f = Math.fround;

/** Options of `euler` (none). */
const eulerOptions: z.ZodType<Record<string, never>> = z.object({}).strict();

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
 * import { fromArray, full } from "../runtime/tensor.ts";
 * const model = (x: ReturnType<typeof full>) => Promise.resolve(full(x.dims, 1));
 * const out = await sampleEuler(model, fromArray([1], [0]), { timesteps: [1000, 500], onStep() {}, onDecision() {} });
 * console.assert(Math.abs(out.data[0] - 1) < 1e-6);
 * ```
 */
export async function sampleEuler(
  model: ModelFn,
  x: Tensor<"float32">,
  ctx: SampleContext,
): Promise<Tensor<"float32">> {
  let z = x;
  const ts = ctx.timesteps;
  for (let i = 0; i < ts.length; i++) {
    ctx.signal?.throwIfAborted();
    const v = await model(z, ts[i], i);
    z = addScaled(z, v, eulerDt(ts, i));
    ctx.onStep({ step: i, t: ts[i], calls: i + 1 });
  }
  return z;
}

/** The `euler` sampler plugin. */
export const euler: PluginDefinition<"sampler", typeof eulerOptions> = {
  name: "euler",
  kind: "sampler",
  options: eulerOptions,
  create: (): Sampler => ({ name: "euler", kind: "sampler", sample: sampleEuler }),
};
