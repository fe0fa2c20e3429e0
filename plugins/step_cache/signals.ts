/**
 * Signals the step caches share: the timestep-modulated input of the first block (TeaCache's indicator),
 * copies of the conditional half of a CFG batch, and relative L1 distances.
 *
 * @module
 */
import type { Tensor, TensorMap } from "../../runtime/core/types.ts";

/** How many leading samples of a batch of `b` are the conditional half of a CFG batch (all when b is odd). */
export function condSamples(b: number): number {
  return b % 2 === 0 ? b / 2 : b;
}

/** The conditional half of a CFG batch (axis 0), as a copy. */
export function condHalf(t: Tensor<"float32">): Float32Array {
  const b = t.dims[0] ?? 1;
  return Float32Array.from(t.data.subarray(0, (t.data.length / b) * condSamples(b)));
}

/** Mean |a| (float64 sum). */
export function meanAbs(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]);
  return s / Math.max(1, a.length);
}

/** Mean |a − b| / mean |b|: the relative L1 change from `b` to `a` (0 when both are zero). */
export function relL1(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`Cannot compare signals: '${a.length}' vs '${b.length}' values`);
  }
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += Math.abs(a[i] - b[i]);
    n += Math.abs(b[i]);
  }
  return n === 0 ? (d === 0 ? 0 : Infinity) : d / n;
}

/** Mean |a − b| (float64 sum). */
export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d / Math.max(1, a.length);
}

function signal(signals: TensorMap, name: string): Tensor<"float32"> {
  const t = signals[name];
  if (!t || t.dtype !== "float32") {
    throw new Error(
      `the denoiser exposes no float32 signal '${name}' (has '${Object.keys(signals).join("', '")}')`,
    );
  }
  return t as Tensor<"float32">;
}

/**
 * TeaCache's indicator for the STDiT3 blocks: the first block's input `h` [B, T, …, C] layer-normed (no
 * affine, eps 1e-6) and modulated by the timestep's shift and scale, the first two C-wide chunks of `t_mlp`
 * ([B, 6C], or [B, T, 6C] per latent frame; the first block's own learned table is not applied: the
 * calibration fits the rescaling on this very signal). Conditional half of the batch only (the
 * unconditional half has the same `h`).
 *
 * @example
 * ```ts ignore
 * const m = modulatedInput(query.signals); // Float32Array over the conditional half's tokens
 * ```
 */
export function modulatedInput(signals: TensorMap): Float32Array {
  const h = signal(signals, "h");
  const tMlp = signal(signals, "t_mlp");
  const c = h.dims.at(-1)!;
  const perFrame = tMlp.dims.length === 3;
  const frames = h.dims.length >= 3 ? h.dims[1] : 1;
  const fits = h.dims.length >= 3 && tMlp.dims[0] === h.dims[0] && tMlp.dims.at(-1)! >= 2 * c &&
    (tMlp.dims.length === 2 || (perFrame && tMlp.dims[1] === frames));
  if (!fits) {
    throw new Error(
      `signals 'h' ${JSON.stringify(h.dims)} and 't_mlp' ${JSON.stringify(tMlp.dims)} are not ` +
        `[B, T, …, C] and [B, (T,) ≥2C]`,
    );
  }
  const batch = h.dims[0];
  const tokens = h.data.length / batch / c; // of one sample
  const perFrameTokens = tokens / frames;
  const width = tMlp.dims.at(-1)!;
  const rows = tokens * condSamples(batch);
  const out = new Float32Array(rows * c);
  for (let i = 0; i < rows; i++) {
    const row = h.data.subarray(i * c, (i + 1) * c);
    const sample = Math.floor(i / tokens);
    const m = perFrame
      ? (sample * frames + Math.floor((i % tokens) / perFrameTokens)) * width
      : sample * width;
    let mean = 0;
    for (let j = 0; j < c; j++) mean += row[j];
    mean /= c;
    let v = 0;
    for (let j = 0; j < c; j++) v += (row[j] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / c + 1e-6);
    for (let j = 0; j < c; j++) {
      out[i * c + j] = (row[j] - mean) * inv * (1 + tMlp.data[m + c + j]) + tMlp.data[m + j];
    }
  }
  return out;
}

/** Evaluate a polynomial (highest degree first, as numpy.polyfit writes it) at `x`. */
export function polyval(coefficients: readonly number[], x: number): number {
  let y = 0;
  for (const c of coefficients) y = y * x + c;
  return y;
}

/** The copy of `h`'s conditional half a cache keeps between calls. */
export function inputOf(signals: TensorMap): Float32Array {
  return condHalf(signal(signals, "h"));
}
