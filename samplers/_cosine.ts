/**
 * Cosine similarities between consecutive velocities, as dynamic LPL measures them.
 *
 * @module
 */
import type { Tensor } from "../runtime/core/types.ts";

const EPS = 1e-8; // torch.nn.functional.cosine_similarity's default eps, applied to each norm

/**
 * Cosine similarity of two whole tensors (the paper's drift similarity), float64 accumulation.
 *
 * @example
 * ```ts
 * cosineFull(a, a); // 1
 * ```
 */
export function cosineFull(a: Tensor<"float32">, b: Tensor<"float32">): number {
  return cosineRange(a.data, b.data, 0, sameLength(a, b));
}

/**
 * The authors' similarity: the [H, W] slice at batch 0, channel 0, frame 0 (the first H·W elements of a
 * [B, C, T, H, W] tensor), cosine along W for each of the H rows, averaged over rows.
 *
 * @example
 * ```ts
 * cosineFirstSliceRows(a, b); // mean over rows of cos(a[0,0,0,r,:], b[0,0,0,r,:])
 * ```
 */
export function cosineFirstSliceRows(a: Tensor<"float32">, b: Tensor<"float32">): number {
  sameLength(a, b);
  if (a.dims.length < 2) {
    throw new RangeError(`Cannot take the row cosine: dims '${JSON.stringify(a.dims)}' have no [H, W] slice`);
  }
  const h = a.dims[a.dims.length - 2];
  const w = a.dims[a.dims.length - 1];
  let sum = 0;
  for (let r = 0; r < h; r++) sum += cosineRange(a.data, b.data, r * w, w);
  return sum / h;
}

function sameLength(a: Tensor, b: Tensor): number {
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
    throw new RangeError(
      `Cannot compare velocities: dims '${JSON.stringify(a.dims)}' vs '${JSON.stringify(b.dims)}'`,
    );
  }
  return a.data.length;
}

function cosineRange(a: Float32Array, b: Float32Array, start: number, length: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = start; i < start + length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / (Math.max(Math.sqrt(na), EPS) * Math.max(Math.sqrt(nb), EPS));
}
