/**
 * Messages between the local executor (main thread) and its lane workers. Tensors cross as
 * transferable ArrayBuffers.
 *
 * @module
 */
import { CTORS, tensor } from "../core/tensor_core.ts";
import type { DType, DTypeArray, Tensor } from "../core/types.ts";

/** A tensor on the wire: its storage moves (transfer), never copies twice. */
export interface WireTensor {
  dtype: DType;
  dims: number[];
  buffer: ArrayBuffer;
}

/** Session options a lane applies to every session it creates. */
export interface LaneSessionOptions {
  threads: number;
  arena: boolean;
  trim: boolean | "always";
  optimization: "disabled" | "basic" | "extended" | "all";
  prepack: boolean;
  /** Fault the weights in at load (dense blocks); `false` leaves a sparse block's mapping untouched. */
  populate: boolean;
}

/** What a lane is asked to do. */
export type LaneCall =
  | { op: "load"; path: string; options: LaneSessionOptions }
  | { op: "run"; session: number; feeds: Record<string, WireTensor> }
  /** `collect`: collect the lane's garbage after the release; `"reduce"`: and shrink its young generation. */
  | { op: "unload"; session: number; trim: boolean | "always"; collect?: boolean | "reduce" }
  | { op: "ready" }
  | { op: "close" };

/** A request to a lane: a call and the id its reply carries. */
export type LaneRequest = LaneCall & { id: number };

/** A lane's reply to the request with the same id. */
export type LaneReply =
  | { id: number; ok: true; session?: number; inputs?: string[]; outputs?: Record<string, WireTensor> }
  | { id: number; ok: false; error: string };

/** A tensor's data copied into its own buffer, ready to transfer (the caller keeps its tensor). */
export function toWire(t: Tensor): WireTensor {
  const data = t.data as Float32Array;
  return { dtype: t.dtype, dims: [...t.dims], buffer: data.slice().buffer };
}

/** The tensor a wire tensor carries (takes over its buffer). */
export function fromWire(w: WireTensor): Tensor {
  return tensor(w.dtype, w.dims, new CTORS[w.dtype](w.buffer) as DTypeArray[typeof w.dtype]);
}
