/**
 * A small safetensors reader: an 8-byte little-endian header length, a JSON header, then raw
 * little-endian tensor data. Supports F32, I64, U8 and BOOL (read as uint8).
 *
 * @module
 */
import { allocate, numel, tensor } from "../core/tensor.ts";
import type { DType, Tensor, TensorMap } from "../core/types.ts";
import { OdsoraError } from "../core/errors.ts";

/** A safetensors file cannot be read (missing, truncated, unsupported dtype). */
export class SafetensorsError extends OdsoraError {}

const DTYPES: Record<string, { dtype: DType; size: number }> = {
  F32: { dtype: "float32", size: 4 },
  I64: { dtype: "int64", size: 8 },
  U8: { dtype: "uint8", size: 1 },
  BOOL: { dtype: "uint8", size: 1 },
};

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * Parse safetensors bytes into named tensors (copies, so the result owns aligned storage).
 *
 * @example
 * ```ts
 * import { parseSafetensors } from "./safetensors.ts";
 * const header = new TextEncoder().encode('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}');
 * const bytes = new Uint8Array(8 + header.length + 2);
 * new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
 * bytes.set(header, 8);
 * bytes.set([7, 9], 8 + header.length);
 * console.assert(parseSafetensors(bytes).a.data[1] === 9);
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, name = "<bytes>"): TensorMap {
  if (bytes.length < 8) {
    throw new SafetensorsError(`Cannot read safetensors '${name}': file is shorter than 8 bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.length) {
    throw new SafetensorsError(
      `Cannot read safetensors '${name}': header length '${headerLen}' exceeds the file`,
    );
  }
  let header: Record<string, Entry>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new SafetensorsError(`Cannot read safetensors '${name}': header is not JSON`, { cause: e });
  }
  const base = 8 + headerLen;
  const out: TensorMap = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") continue;
    const spec = DTYPES[entry.dtype];
    if (!spec) {
      throw new SafetensorsError(
        `Cannot read tensor '${key}' of '${name}': dtype '${entry.dtype}' is not supported`,
      );
    }
    const [begin, end] = entry.data_offsets;
    const n = numel(entry.shape);
    if (end - begin !== n * spec.size || base + end > bytes.length) {
      throw new SafetensorsError(
        `Cannot read tensor '${key}' of '${name}': data offsets '${begin}..${end}' are invalid`,
      );
    }
    const data = allocate(spec.dtype, n);
    new Uint8Array(data.buffer).set(bytes.subarray(base + begin, base + end));
    out[key] = tensor(spec.dtype, entry.shape, data);
  }
  return out;
}

/** Read a `.safetensors` file into named tensors. */
export async function readSafetensors(path: string): Promise<TensorMap> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new SafetensorsError(`Cannot read safetensors '${path}': ${(e as Error).message}`, { cause: e });
  }
  return parseSafetensors(bytes, path);
}

/** The tensor `key` of a map, or a SafetensorsError naming what is there. */
export function pick(map: TensorMap, key: string, file = "<map>"): Tensor {
  const t = map[key];
  if (!t) {
    throw new SafetensorsError(
      `Cannot find tensor '${key}' in '${file}': it has '${Object.keys(map).join("', '")}'`,
    );
  }
  return t;
}
