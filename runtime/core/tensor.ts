/**
 * Tensor helpers: free functions over the read-only `{ dtype, dims, data }` record of `types.ts`.
 * Row-major, dense; every function returns a new tensor (inputs are never written).
 *
 * @module
 */
import { allocate, numel, releaseBuffer, tensor } from "./tensor_core.ts";
import type { DType, DTypeArray, Tensor } from "./types.ts";

export { allocate, numel, tensor } from "./tensor_core.ts";
export { addScaled, matmul, relL2, sub, toFloat32 } from "./tensor_math.ts";

/** A zero-filled tensor (float32 unless `dtype` says otherwise). */
export function zeros<D extends DType = "float32">(dims: readonly number[], dtype?: D): Tensor<D> {
  const dt = (dtype ?? "float32") as D;
  return tensor(dt, dims, allocate(dt, numel(dims)));
}

/** A float32 tensor filled with `value`. */
export function full(dims: readonly number[], value: number): Tensor<"float32"> {
  return tensor("float32", dims, new Float32Array(numel(dims)).fill(value));
}

/**
 * A tensor from a flat list of numbers (float32 unless `dtype` says otherwise).
 *
 * @example
 * ```ts
 * import { fromArray } from "./tensor.ts";
 * const ids = fromArray([1, 3], [5, 1, 0], "int64");
 * console.assert(ids.data[1] === 1n);
 * ```
 */
export function fromArray<D extends DType = "float32">(
  dims: readonly number[],
  values: readonly number[],
  dtype?: D,
): Tensor<D> {
  const dt = (dtype ?? "float32") as D;
  const data = allocate(dt, values.length);
  if (dt === "int64") values.forEach((v, i) => ((data as BigInt64Array)[i] = BigInt(Math.trunc(v))));
  else (data as Float32Array | Uint8Array).set(values);
  return tensor(dt, dims, data);
}

/** The same data under new dims (one dim may be -1); shares storage. */
export function reshape<D extends DType>(t: Tensor<D>, dims: readonly number[]): Tensor<D> {
  const known = dims.filter((d) => d !== -1);
  const n = numel(known);
  const out = dims.map((d) => (d === -1 ? (n === 0 ? 0 : t.data.length / n) : d));
  if (
    dims.filter((d) => d === -1).length > 1 || numel(out) !== t.data.length || !out.every(Number.isInteger)
  ) {
    throw new RangeError(
      `Cannot reshape tensor: dims '${JSON.stringify(t.dims)}' to '${JSON.stringify(dims)}'`,
    );
  }
  return tensor(t.dtype, out, t.data);
}

function axisOf(t: Tensor, axis: number): number {
  const a = axis < 0 ? axis + t.dims.length : axis;
  if (a < 0 || a >= t.dims.length) {
    throw new RangeError(`Cannot use axis '${axis}': tensor has dims '${JSON.stringify(t.dims)}'`);
  }
  return a;
}

/** Elements `start..end-1` along `axis` (like `t.narrow`). */
export function slice<D extends DType>(t: Tensor<D>, axis: number, start: number, end: number): Tensor<D> {
  const a = axisOf(t, axis);
  const len = t.dims[a];
  if (!(0 <= start && start <= end && end <= len)) {
    throw new RangeError(`Cannot slice axis '${a}' to [${start}, ${end}): its length is '${len}'`);
  }
  const outer = numel(t.dims.slice(0, a));
  const inner = numel(t.dims.slice(a + 1));
  const dims = t.dims.slice();
  dims[a] = end - start;
  const out = allocate(t.dtype, numel(dims));
  const run = (end - start) * inner;
  for (let o = 0; o < outer; o++) {
    const from = (o * len + start) * inner;
    (out as Float32Array).set((t.data as Float32Array).subarray(from, from + run), o * run);
  }
  return tensor(t.dtype, dims, out);
}

/** Join tensors along `axis` (all other dims equal, same dtype). */
export function concat<D extends DType>(ts: readonly Tensor<D>[], axis: number): Tensor<D> {
  if (ts.length === 0) throw new RangeError("Cannot concat tensors: the list is empty");
  const first = ts[0];
  const a = axisOf(first, axis);
  for (const t of ts) {
    const same = t.dtype === first.dtype && t.dims.length === first.dims.length &&
      t.dims.every((d, i) => i === a || d === first.dims[i]);
    if (!same) {
      throw new RangeError(
        `Cannot concat along axis '${a}': '${t.dtype}${JSON.stringify(t.dims)}' vs '${first.dtype}${
          JSON.stringify(first.dims)
        }'`,
      );
    }
  }
  const outer = numel(first.dims.slice(0, a));
  const inner = numel(first.dims.slice(a + 1));
  const total = ts.reduce((s, t) => s + t.dims[a], 0);
  const dims = first.dims.slice();
  dims[a] = total;
  const out = allocate(first.dtype, numel(dims)) as Float32Array;
  for (let o = 0; o < outer; o++) {
    let at = o * total * inner;
    for (const t of ts) {
      const run = t.dims[a] * inner;
      out.set((t.data as Float32Array).subarray(o * run, o * run + run), at);
      at += run;
    }
  }
  return tensor(first.dtype, dims, out as unknown as DTypeArray[D]);
}

/** Copy the leading `region` box of `src` into the leading box of a new zero tensor of `dims`. */
function copyBox<D extends DType>(
  src: Tensor<D>,
  dims: readonly number[],
  region: readonly number[],
): Tensor<D> {
  const out = allocate(src.dtype, numel(dims)) as Float32Array;
  const rank = dims.length;
  const rows = numel(region.slice(0, rank - 1));
  const run = region[rank - 1];
  const idx = new Array(rank - 1).fill(0);
  for (let r = 0; r < rows && run > 0; r++) {
    let s = 0;
    let d = 0;
    for (let k = 0; k < rank - 1; k++) {
      s = s * src.dims[k] + idx[k];
      d = d * dims[k] + idx[k];
    }
    s *= src.dims[rank - 1];
    d *= dims[rank - 1];
    out.set((src.data as Float32Array).subarray(s, s + run), d);
    for (let k = rank - 2; k >= 0; k--) {
      if (++idx[k] < region[k]) break;
      idx[k] = 0;
    }
  }
  return tensor(src.dtype, dims, out as unknown as DTypeArray[D]);
}

/** Zero-pad at the end of each axis up to `dims` (each at least the current size). */
export function padTo<D extends DType>(t: Tensor<D>, dims: readonly number[]): Tensor<D> {
  if (dims.length !== t.dims.length || dims.some((d, i) => d < t.dims[i])) {
    throw new RangeError(`Cannot pad tensor: dims '${JSON.stringify(t.dims)}' to '${JSON.stringify(dims)}'`);
  }
  return dims.every((d, i) => d === t.dims[i]) ? t : copyBox(t, dims, t.dims);
}

/** Keep the leading `dims` box (each at most the current size): the inverse of {@link padTo}. */
export function cropTo<D extends DType>(t: Tensor<D>, dims: readonly number[]): Tensor<D> {
  if (dims.length !== t.dims.length || dims.some((d, i) => d > t.dims[i])) {
    throw new RangeError(`Cannot crop tensor: dims '${JSON.stringify(t.dims)}' to '${JSON.stringify(dims)}'`);
  }
  return dims.every((d, i) => d === t.dims[i]) ? t : copyBox(t, dims, dims);
}

/** The n×n float32 identity. */
export function eye(n: number): Tensor<"float32"> {
  const data = new Float32Array(n * n);
  for (let i = 0; i < n; i++) data[i * n + i] = 1;
  return tensor("float32", [n, n], data);
}

/**
 * Free a tensor's memory now instead of at the next garbage collection, by detaching its buffer
 * (ES2024 `ArrayBuffer.prototype.transfer`). Only for a tensor nothing else uses: its data reads as empty
 * afterwards. A tensor that views part of a larger buffer is left alone. Returns whether it was freed.
 *
 * @example
 * ```ts
 * import { releaseTensor, zeros } from "./tensor.ts";
 * const t = zeros([1024]);
 * releaseTensor(t); // true; t.data.length is now 0
 * ```
 */
export function releaseTensor(t: Tensor): boolean {
  const buffer = t.data.buffer;
  if (!(buffer instanceof ArrayBuffer)) return false;
  if (t.data.byteOffset !== 0 || t.data.byteLength !== buffer.byteLength) return false;
  return releaseBuffer(buffer);
}
