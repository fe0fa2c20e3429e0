/**
 * Velocity fields with known solutions for sampler tests (test-only helpers).
 *
 * @module
 */
import { tensor } from "../runtime/core/tensor.ts";
import { runSampler } from "../runtime/core/sample.ts";
import type { ModelFn, RunEvent, Sampler, Tensor } from "../runtime/core/types.ts";

/** A linear field v = c·x: Euler multiplies x by (1 + c·Δτ) per step, Δτ = Δt/1000. */
export function linearField(c: number): ModelFn & { calls: { t: number; step: number }[] } {
  const calls: { t: number; step: number }[] = [];
  const fn = (x: Tensor<"float32">, t: number, step: number) => {
    calls.push({ t, step });
    return Promise.resolve(tensor("float32", x.dims, x.data.map((v) => c * v)));
  };
  return Object.assign(fn, { calls });
}

/** The straight rectified flow to a single data point x0: v = (x0 − x)/τ, exact for any step size. */
export function straightField(x0: Float32Array): ModelFn {
  return (x, t) => Promise.resolve(tensor("float32", x.dims, x.data.map((v, i) => (x0[i] - v) / (t / 1000))));
}

/**
 * A field whose velocity at step i has the given cosine with the velocity at step i−1: unit 2-vectors
 * rotated by acos(cos_i), written into every row of an [1, 1, 1, rows, 2] tensor.
 */
export function cosineField(cosines: readonly (number | null)[], rows = 3): ModelFn {
  const angles = [0];
  for (let i = 1; i < cosines.length; i++) angles.push(angles[i - 1] + Math.acos(cosines[i] ?? 1));
  return (_x, _t, step) => {
    const data = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      [data[2 * r], data[2 * r + 1]] = [Math.cos(angles[step]), Math.sin(angles[step])];
    }
    return Promise.resolve(tensor("float32", [1, 1, 1, rows, 2], data));
  };
}

/** Timesteps t_i = (1 − i/K)·1000, optionally shifted as Open-Sora does (r = shift). */
export function linearTimesteps(k: number, shift = 1): number[] {
  return Array.from({ length: k }, (_, i) => {
    const tau = 1 - i / k;
    return (1000 * shift * tau) / (1 + (shift - 1) * tau);
  });
}

/** Run `sampler` over `model` as the runtime does (step events from the model function), recording events. */
export async function sampleRecorded(
  sampler: Sampler,
  model: ModelFn,
  x: Tensor<"float32">,
  timesteps: readonly number[],
  signal?: AbortSignal,
): Promise<{ latent: Tensor<"float32">; events: RunEvent[] }> {
  const events: RunEvent[] = [];
  const { latent } = await runSampler(sampler, model, x, { timesteps, signal, emit: (e) => events.push(e) });
  return { latent, events };
}
