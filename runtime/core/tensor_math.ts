/**
 * Tensor arithmetic in float32 (rounded per operation as torch does on fp32 tensors): small matrix
 * products, scaled sums, differences, dtype conversion, and the relative L2 error.
 *
 * @module
 */
import { tensor } from "./tensor_core.ts";
import type { Tensor } from "./types.ts";

/** Matrix product of two 2-D float32 tensors (small operator matrices; fp32 accumulation per term). */
export function matmul(a: Tensor<"float32">, b: Tensor<"float32">): Tensor<"float32"> {
  if (a.dims.length !== 2 || b.dims.length !== 2 || a.dims[1] !== b.dims[0]) {
    throw new RangeError(
      `Cannot multiply matrices: '${JSON.stringify(a.dims)}' by '${JSON.stringify(b.dims)}'`,
    );
  }
  const [m, k] = a.dims;
  const n = b.dims[1];
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround(a.data[i * k + p] * b.data[p * n + j]));
      out[i * n + j] = s;
    }
  }
  return tensor("float32", [m, n], out);
}

function sameShape(a: Tensor, b: Tensor, what: string): void {
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
    throw new RangeError(`Cannot ${what}: dims '${JSON.stringify(a.dims)}' vs '${JSON.stringify(b.dims)}'`);
  }
}

/** Elementwise `a + s·b` in float32 (`s·b` rounded first, as torch does for `a + s * b`). */
export function addScaled(a: Tensor<"float32">, b: Tensor<"float32">, s: number): Tensor<"float32"> {
  sameShape(a, b, "add tensors");
  const out = new Float32Array(a.data.length);
  const sf = Math.fround(s);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + Math.fround(sf * b.data[i]);
  return tensor("float32", a.dims, out);
}

/** Elementwise `a − b` in float32. */
export function sub(a: Tensor<"float32">, b: Tensor<"float32">): Tensor<"float32"> {
  sameShape(a, b, "subtract tensors");
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] - b.data[i];
  return tensor("float32", a.dims, out);
}

/** Any tensor's values as float32 (int64 and uint8 masks become 0/1 floats). */
export function toFloat32(t: Tensor): Tensor<"float32"> {
  if (t.dtype === "float32") return t as Tensor<"float32">;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return tensor("float32", t.dims, out);
}

/** Relative L2 error ‖out − ref‖ / ‖ref‖ (float64 accumulation; the parity metric). */
export function relL2(out: Tensor, ref: Tensor): number {
  sameShape(out, ref, "compare tensors");
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const r = Number(ref.data[i]);
    const d = Number(out.data[i]) - r;
    num += d * d;
    den += r * r;
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : Math.sqrt(num / den);
}
