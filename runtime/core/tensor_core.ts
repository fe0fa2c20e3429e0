/**
 * The tensor record constructor and storage helpers shared by the tensor modules.
 *
 * @module
 */
import type { DType, DTypeArray, Tensor } from "./types.ts";

/** The typed-array constructor of each dtype. */
export const CTORS = { float32: Float32Array, int64: BigInt64Array, uint8: Uint8Array } as const;

/** Number of elements of a shape. */
export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Allocate a typed array of `dtype` with `n` zeroed elements. */
export function allocate<D extends DType>(dtype: D, n: number): DTypeArray[D] {
  return new CTORS[dtype](n) as DTypeArray[D];
}

/**
 * Make a tensor after checking that `data` holds exactly `numel(dims)` elements.
 *
 * @example
 * ```ts
 * import { tensor } from "./tensor.ts";
 * const t = tensor("float32", [2, 2], new Float32Array([1, 2, 3, 4]));
 * console.assert(t.dims[0] === 2);
 * ```
 */
export function tensor<D extends DType>(dtype: D, dims: readonly number[], data: DTypeArray[D]): Tensor<D> {
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`Cannot make tensor: dims '${JSON.stringify(dims)}' are not non-negative integers`);
  }
  if (!(data instanceof CTORS[dtype])) {
    throw new TypeError(`Cannot make tensor: data is not ${dtype} storage`);
  }
  if (data.length !== numel(dims)) {
    throw new RangeError(
      `Cannot make tensor: dims '${JSON.stringify(dims)}' need ${
        numel(dims)
      } elements, data has '${data.length}'`,
    );
  }
  return Object.freeze({ dtype, dims: Object.freeze([...dims]), data });
}

/**
 * Free a buffer's memory now by detaching it (ES2024 `ArrayBuffer.prototype.transfer`) instead of at the
 * next garbage collection; false if it was already detached. Views of it read as empty afterwards.
 */
export function releaseBuffer(buffer: ArrayBuffer): boolean {
  if (buffer.detached) return false;
  buffer.transfer(0);
  return true;
}
