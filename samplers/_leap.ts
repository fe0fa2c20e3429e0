/**
 * The loop shared by the leaping samplers: Euler steps until a rule says leap, then the leap
 * x ← x + v_n·t_n/1000 with that step's velocity (the remaining dts telescope to t_n).
 *
 * @module
 */
import { addScaled } from "../runtime/core/tensor.ts";
import type { ModelFn, SampleContext, Tensor } from "../runtime/core/types.ts";
import { eulerDt } from "./euler.ts";

/**
 * Integrate from noise with Euler, asking `leapNow(step, v)` after every model call; on `true`, leap to
 * t = 0 with that velocity and report "leap at step n". Returns the final latent. A call at a step for
 * which `leapsAt(step)` is true is asked `exact` (a step cache computes the drift the leap uses).
 *
 * @example
 * ```ts ignore
 * const out = await sampleWithLeap(model, x, ctx, (step) => step === 15);
 * ```
 */
export async function sampleWithLeap(
  model: ModelFn,
  x: Tensor<"float32">,
  ctx: SampleContext,
  leapNow: (step: number, v: Tensor<"float32">) => boolean,
  leapsAt?: (step: number) => boolean,
): Promise<Tensor<"float32">> {
  const ts = ctx.timesteps;
  for (let i = 0; i < ts.length; i++) {
    const v = leapsAt?.(i) ? await model(x, ts[i], i, { exact: true }) : await model(x, ts[i], i);
    if (leapNow(i, v)) {
      const data = { leap: true, leapStep: i, t: ts[i], calls: i + 1, skipped: ts.length - 1 - i };
      ctx.onDecision({ step: i, message: `leap at step ${i}`, data });
      return addScaled(x, v, Math.fround(Math.fround(ts[i]) / 1000)); // float32, as the reference
    }
    x = addScaled(x, v, eulerDt(ts, i));
  }
  return x;
}
