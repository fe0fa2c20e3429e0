/**
 * The rectified-flow timestep schedule of Open-Sora v1.2 (`RFLOW`): a uniform grid from 1000 down,
 * optionally rounded to integers (the On-device-Sora sampler), then the resolution/length-dependent shift
 * t' = r·t/(1 + (r − 1)·t). Every operation is rounded to float32 as torch does on fp32 tensors, so the
 * values equal the reference's bit for bit.
 *
 * @module
 */

const f = Math.fround;

/** Options of {@link rflowTimesteps}. */
export interface RflowTimestepOptions {
  /** K, the number of sampling steps. */
  steps: number;
  /** Video height and width in pixels. */
  height: number;
  width: number;
  /** Video length in frames (pixels, not latents). */
  frames: number;
  /** Round the base grid to integers before the shift (On-device-Sora); v1.2 does not. */
  discrete?: boolean;
  /** Apply the timestep shift (Open-Sora v1.2 inference: true). */
  shift?: boolean;
  /** T, the training timesteps (1000). */
  numTimesteps?: number;
}

/** Python's `round()`: nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The shift ratio r = sqrt(H·W/512²)·sqrt(⌊F/17⌋·5) in float32 (r_time = 1 for a single frame).
 *
 * @example
 * ```ts
 * import { shiftRatio } from "./timesteps.ts";
 * console.assert(Math.abs(shiftRatio(240, 426, 51) - 2.41872) < 1e-4);
 * ```
 */
export function shiftRatio(height: number, width: number, frames: number): number {
  const resolution = f(f(height) * f(width));
  const space = f(Math.sqrt(f(resolution / 262144)));
  const num = frames === 1 ? 1 : f(Math.floor(f(frames) / 17) * 5);
  const time = f(Math.sqrt(num));
  return f(space * time);
}

/**
 * The K timesteps t_0 > … > t_{K−1} (in (0, 1000]) as Open-Sora's `RFLOW.sample` computes them.
 *
 * @example
 * ```ts
 * import { rflowTimesteps } from "./timesteps.ts";
 * const ts = rflowTimesteps({ steps: 30, height: 240, width: 426, frames: 51, shift: true });
 * console.assert(ts[0] === 1000 && ts.length === 30);
 * ```
 */
export function rflowTimesteps(options: RflowTimestepOptions): number[] {
  const { steps, height, width, frames, discrete = false, shift = true, numTimesteps = 1000 } = options;
  if (!Number.isInteger(steps) || steps < 1) {
    throw new RangeError(`Cannot make timesteps: steps '${steps}' is not a positive integer`);
  }
  const ratio = shift ? shiftRatio(height, width, frames) : 1;
  if (shift && !(ratio > 0)) {
    throw new RangeError(
      `Cannot make timesteps: frames '${frames}' give a zero shift ratio (Open-Sora's ⌊F/17⌋ is 0 for 2..16 frames); ` +
        `use 1 or at least 17 frames, or turn the shift off`,
    );
  }
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    let base = (1 - i / steps) * numTimesteps;
    if (discrete) base = roundHalfEven(base);
    let t = f(base);
    if (shift) {
      const s = f(t / numTimesteps);
      const shifted = f(f(ratio * s) / f(1 + f(f(ratio - 1) * s)));
      t = f(shifted * numTimesteps);
    }
    out.push(t);
  }
  return out;
}
