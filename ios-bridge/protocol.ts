/**
 * The iOS bridge wire protocol, version 2 (ios-bridge/PROTOCOL.md): length-prefixed frames of a 32-byte
 * little-endian prelude (sizes, flags, a frame counter), a JSON header, a payload of raw little-endian
 * tensors, each 8-byte aligned, and, on an authenticated session, a 32-byte HMAC-SHA256 trailer
 * (`secure_channel.ts`). This file encodes and decodes frames; `frame_reader.ts` cuts a byte stream into
 * frames and `messages.ts` validates the headers.
 *
 * @module
 */
import { OdsoraError } from "../runtime/core/errors.ts";
import type { DType, DTypeArray, Tensor, TensorMap } from "../runtime/core/types.ts";

/** The protocol version this side speaks. */
export const PROTOCOL_VERSION = 2;
/** The first four bytes of every frame: ASCII "OSRB". */
export const MAGIC: Uint8Array = new Uint8Array([0x4f, 0x53, 0x52, 0x42]);
/** Bytes before the header: magic, version, flags, header length, reserved, payload length, counter. */
export const PRELUDE_BYTES = 32;
/** Bytes of the MAC trailer of an authenticated frame (HMAC-SHA256). */
export const MAC_BYTES = 32;
/** Prelude flag: the frame ends with a {@link MAC_BYTES}-byte MAC trailer. */
export const FLAG_MAC = 1;
/** Largest tensor directory a receiver accepts (entries in one frame's `tensors`). */
export const MAX_TENSORS = 1024;
/** Largest header a receiver accepts (a header only describes tensors; it is never big). */
export const MAX_HEADER_BYTES: number = 1 << 20;
/** Largest payload a receiver accepts by default (16 GiB: far above any block's activations). */
export const MAX_PAYLOAD_BYTES: number = 16 * 2 ** 30;

/** A protocol violation: bad magic, unsupported version, truncated frame, malformed header or tensor. */
export class ProtocolError extends OdsoraError {}

/** Where a tensor lies in a frame's payload (a header's `tensors` entry). */
export interface TensorSpec {
  name: string;
  dtype: DType;
  dims: number[];
  /** Byte offset in the payload, a multiple of 8. */
  offset: number;
  /** Byte length: numel × element size. */
  bytes: number;
}

/** A frame's JSON header: a message `type`, a request `id`, message fields, and the tensor directory. */
export interface FrameHeader {
  type: string;
  id: number;
  tensors?: TensorSpec[];
  [field: string]: unknown;
}

/** A decoded frame: its header and its tensors by name (views into one fresh buffer, never copies). */
export interface Frame {
  header: FrameHeader;
  tensors: TensorMap;
}

const ELEMENT_BYTES: Record<DType, number> = { float32: 4, int64: 8, uint8: 1 };
const ARRAYS = { float32: Float32Array, int64: BigInt64Array, uint8: Uint8Array } as const;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const align8 = (n: number) => Math.ceil(n / 8) * 8;

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Encode one frame as a list of chunks to write in order (the tensors' bytes are views, not copies).
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame } from "./protocol.ts";
 * import { concatChunks } from "./frame_reader.ts";
 * const x = { dtype: "float32" as const, dims: [2], data: new Float32Array([1, 2]) };
 * const frame = decodeFrame(concatChunks(encodeFrame({ type: "run", id: 1 }, { x })));
 * console.assert(frame.tensors.x.data[1] === 2);
 * ```
 */
export function encodeFrame(
  header: Omit<FrameHeader, "tensors">,
  tensors: TensorMap = {},
  seal: { counter: bigint } | null = null,
): Uint8Array[] {
  if (!LITTLE_ENDIAN) throw new ProtocolError("Cannot encode frame: this host is big-endian");
  const specs: TensorSpec[] = [];
  const bodies: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const body = bytesOf(t);
    const want = t.dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[t.dtype];
    if (body.byteLength !== want) {
      throw new ProtocolError(
        `Cannot encode tensor '${name}': dims '${
          JSON.stringify(t.dims)
        }' need '${want}' bytes, data has '${body.byteLength}'`,
      );
    }
    specs.push({ name, dtype: t.dtype, dims: [...t.dims], offset, bytes: body.byteLength });
    bodies.push(body);
    offset = align8(offset + body.byteLength);
  }
  const json = JSON.stringify(specs.length ? { ...header, tensors: specs } : header);
  const text = new TextEncoder().encode(json);
  const headerBytes = align8(text.byteLength); // padded with spaces: the payload starts 8-aligned
  const head = new Uint8Array(PRELUDE_BYTES + headerBytes).fill(0x20, PRELUDE_BYTES + text.byteLength);
  const view = new DataView(head.buffer);
  head.set(MAGIC, 0);
  view.setUint16(4, PROTOCOL_VERSION, true);
  view.setUint16(6, seal ? FLAG_MAC : 0, true);
  view.setUint32(8, headerBytes, true);
  view.setUint32(12, 0, true);
  view.setBigUint64(16, BigInt(offset), true);
  view.setBigUint64(24, seal?.counter ?? 0n, true);
  head.set(text, PRELUDE_BYTES);
  const chunks: Uint8Array[] = [head];
  bodies.forEach((body, i) => {
    chunks.push(body);
    const pad = (i + 1 < bodies.length ? specs[i + 1].offset : offset) - specs[i].offset - body.byteLength;
    if (pad > 0) chunks.push(new Uint8Array(pad));
  });
  return chunks;
}

/** What a prelude announces. */
export interface Prelude {
  headerBytes: number;
  payloadBytes: number;
  /** Prelude flags ({@link FLAG_MAC}). */
  flags: number;
  /** The sender's frame counter (authenticated frames: 0, 1, 2, ... per direction and session). */
  counter: bigint;
  /** Bytes of the whole frame: prelude, header, payload and the MAC trailer if flagged. */
  frameBytes: number;
}

/** What a receiver accepts; checked on the prelude, before anything of the claimed size is allocated. */
export interface FrameLimits {
  /** Largest header, bytes. */
  maxHeaderBytes: number;
  /** Largest header + payload, bytes. */
  maxFrameBytes: number;
}

/**
 * Read and check a frame's 32-byte prelude (magic, version, sizes against `limits`); throws ProtocolError.
 *
 * @example
 * ```ts
 * import { decodePrelude, encodeFrame } from "./protocol.ts";
 * const { headerBytes, payloadBytes } = decodePrelude(encodeFrame({ type: "memory", id: 1 })[0]);
 * console.assert(headerBytes % 8 === 0 && payloadBytes === 0);
 * ```
 */
export function decodePrelude(
  bytes: Uint8Array,
  limits: FrameLimits = { maxHeaderBytes: MAX_HEADER_BYTES, maxFrameBytes: MAX_PAYLOAD_BYTES },
): Prelude {
  if (bytes.byteLength < PRELUDE_BYTES) {
    throw new ProtocolError(
      `Cannot decode frame: the prelude needs '${PRELUDE_BYTES}' bytes, got '${bytes.byteLength}'`,
    );
  }
  if (MAGIC.some((b, i) => bytes[i] !== b)) {
    const got = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new ProtocolError(`Cannot decode frame: magic is '${got}', expected '4f 53 52 42' ("OSRB")`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, PRELUDE_BYTES);
  const version = view.getUint16(4, true);
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `Cannot decode frame: protocol version '${version}' is not supported (this side speaks version '${PROTOCOL_VERSION}')`,
    );
  }
  const flags = view.getUint16(6, true);
  const headerBytes = view.getUint32(8, true);
  const payload = view.getBigUint64(16, true);
  const counter = view.getBigUint64(24, true);
  if (headerBytes > limits.maxHeaderBytes) {
    throw new ProtocolError(
      `Cannot decode frame: header of '${headerBytes}' bytes exceeds '${limits.maxHeaderBytes}'`,
    );
  }
  if (BigInt(headerBytes) + payload > BigInt(limits.maxFrameBytes)) {
    throw new ProtocolError(
      `Cannot decode frame: header and payload of '${
        BigInt(headerBytes) + payload
      }' bytes exceed the frame limit '${limits.maxFrameBytes}'`,
    );
  }
  const payloadBytes = Number(payload);
  const mac = flags & FLAG_MAC ? MAC_BYTES : 0;
  return {
    headerBytes,
    payloadBytes,
    flags,
    counter,
    frameBytes: PRELUDE_BYTES + headerBytes + payloadBytes + mac,
  };
}

function checkSpec(s: TensorSpec, payloadBytes: number): void {
  const where = `Cannot decode tensor '${String(s?.name)}'`;
  if (typeof s?.name !== "string" || !(s.dtype in ELEMENT_BYTES)) {
    throw new ProtocolError(
      `${where}: dtype '${String(s?.dtype)}' is not one of 'float32', 'int64', 'uint8'`,
    );
  }
  if (!Array.isArray(s.dims) || !s.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ProtocolError(`${where}: dims '${JSON.stringify(s.dims)}' are not non-negative integers`);
  }
  const want = s.dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[s.dtype];
  if (s.bytes !== want) throw new ProtocolError(`${where}: '${s.bytes}' bytes, its dims need '${want}'`);
  if (!Number.isSafeInteger(s.offset) || s.offset < 0 || s.offset % 8 !== 0) {
    throw new ProtocolError(`${where}: offset '${s.offset}' is not a non-negative multiple of 8`);
  }
  if (!Number.isSafeInteger(s.offset + s.bytes) || s.offset + s.bytes > payloadBytes) {
    throw new ProtocolError(
      `${where}: bytes '${s.offset}'..'${s.offset + s.bytes}' lie outside the '${payloadBytes}'-byte payload`,
    );
  }
}

/**
 * Decode the header bytes and the payload (which must start at offset 0 of its own buffer region,
 * 8-aligned) into a frame; tensors are views into `payload`.
 */
export function decodeBody(headerBytes: Uint8Array, payload: Uint8Array): Frame {
  let header: FrameHeader;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new ProtocolError(`Cannot decode frame: the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || typeof header.type !== "string") {
    throw new ProtocolError("Cannot decode frame: the header is not an object with a string 'type'");
  }
  if (!Number.isSafeInteger(header.id) || header.id < 0) {
    throw new ProtocolError(
      `Cannot decode '${header.type}' frame: 'id' '${header.id}' is not an integer >= 0`,
    );
  }
  const tensors: TensorMap = {};
  const specs = header.tensors ?? [];
  if (!Array.isArray(specs)) throw new ProtocolError("Cannot decode frame: 'tensors' is not an array");
  if (specs.length > MAX_TENSORS) {
    throw new ProtocolError(
      `Cannot decode frame: its tensor directory has '${specs.length}' entries, above '${MAX_TENSORS}'`,
    );
  }
  if (payload.byteOffset % 8 !== 0) payload = payload.slice();
  for (const s of specs) checkSpec(s, payload.byteLength);
  const spans = specs.map((s) => [s.offset, s.offset + s.bytes]).filter(([a, b]) => b > a).sort((p, q) =>
    p[0] - q[0]
  );
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) {
      throw new ProtocolError(
        `Cannot decode frame: tensors at bytes '${spans[i - 1][0]}' and '${spans[i][0]}' overlap`,
      );
    }
  }
  for (const s of specs) {
    if (s.name in tensors) {
      throw new ProtocolError(`Cannot decode tensor '${s.name}': the name appears twice`);
    }
    const n = s.bytes / ELEMENT_BYTES[s.dtype];
    const data = new ARRAYS[s.dtype](payload.buffer as ArrayBuffer, payload.byteOffset + s.offset, n);
    tensors[s.name] = { dtype: s.dtype, dims: [...s.dims], data: data as DTypeArray[typeof s.dtype] };
  }
  return { header, tensors };
}

/**
 * Decode one complete frame held in `bytes` (exactly one frame; throws ProtocolError if truncated).
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame } from "./protocol.ts";
 * import { concatChunks } from "./frame_reader.ts";
 * const frame = decodeFrame(concatChunks(encodeFrame({ type: "memory", id: 7 })));
 * console.assert(frame.header.type === "memory" && frame.header.id === 7);
 * ```
 */
export function decodeFrame(bytes: Uint8Array, limits?: FrameLimits): Frame {
  const { headerBytes, frameBytes: total } = decodePrelude(bytes, limits);
  if (bytes.byteLength !== total) {
    const how = bytes.byteLength < total ? "truncated" : "followed by extra bytes";
    throw new ProtocolError(
      `Cannot decode frame: it is ${how} (the prelude announces '${total}' bytes, got '${bytes.byteLength}')`,
    );
  }
  const start = PRELUDE_BYTES + headerBytes;
  const end = PRELUDE_BYTES + headerBytes + decodePrelude(bytes, limits).payloadBytes;
  return decodeBody(bytes.subarray(PRELUDE_BYTES, start), bytes.subarray(start, end));
}
