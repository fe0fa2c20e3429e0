/**
 * Least-squares polynomial fit (as numpy.polyfit: coefficients highest degree first), for TeaCache's
 * rescaling polynomial.
 *
 * @module
 */
import { polyval } from "./signals.ts";

/**
 * Fit a polynomial of `degree` to the points (x, y) by least squares (normal equations on x scaled to
 * [−1, 1], solved with partial pivoting). Throws when there are fewer points than coefficients.
 *
 * @example
 * ```ts
 * import { polyfit } from "./fit.ts";
 * polyfit([0, 1, 2], [1, 3, 5], 1); // ≈ [2, 1]
 * ```
 */
export function polyfit(x: readonly number[], y: readonly number[], degree: number): number[] {
  const n = degree + 1;
  if (x.length !== y.length || x.length < n) {
    throw new RangeError(`Cannot fit degree ${degree}: '${x.length}' points, '${y.length}' values`);
  }
  const lo = Math.min(...x);
  const hi = Math.max(...x);
  const half = (hi - lo) / 2 || 1;
  const mid = (hi + lo) / 2;
  // A·c = b over scaled u = (x − mid)/half, powers 0..degree
  const a = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  for (let k = 0; k < x.length; k++) {
    const u = (x[k] - mid) / half;
    const p = Array.from({ length: n }, (_, i) => u ** i);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i][j] += p[i] * p[j];
      a[i][n] += p[i] * y[k];
    }
  }
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    if (Math.abs(a[col][col]) < 1e-300) {
      throw new RangeError(`Cannot fit degree ${degree}: the points are degenerate`);
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r][col] / a[col][col];
      for (let c = col; c <= n; c++) a[r][c] -= f * a[col][c];
    }
  }
  const scaled = a.map((row, i) => row[n] / row[i]); // in u, lowest power first
  // expand Σ s_i ((x − mid)/half)^i into powers of x (binomial), then highest first
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) out[j] += scaled[i] * binomial(i, j) * (-mid) ** (i - j) / half ** i;
  }
  return out.reverse();
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** Mean |polyval(c, x) − y| over the points. */
export function meanFitError(c: readonly number[], x: readonly number[], y: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(polyval(c, x[i]) - y[i]);
  return s / Math.max(1, x.length);
}
