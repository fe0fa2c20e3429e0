/**
 * Cuts a byte stream (TCP chunks of any size) into protocol frames. Chunks are kept as they arrive; each
 * prelude is checked against the receiver's current limits before anything of the size it claims is
 * allocated, and a whole frame is copied once into a fresh buffer, so its tensors are aligned views.
 * Frames are pulled one at a time (`next`), so a receiver can change its limits between two frames (a
 * device accepts payloads only once a session is authenticated).
 *
 * @module
 */
import {
  decodeBody,
  decodePrelude,
  type Frame,
  type FrameLimits,
  MAC_BYTES,
  MAX_HEADER_BYTES,
  MAX_PAYLOAD_BYTES,
  type Prelude,
  PRELUDE_BYTES,
  ProtocolError,
} from "./protocol.ts";

/** Concatenate chunks into one new buffer (offset 0). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** One whole frame as received: its bytes (prelude, header, payload), its prelude and its MAC trailer. */
export interface RawFrame {
  prelude: Prelude;
  /** Prelude + header + payload (what the MAC covers), a fresh buffer at offset 0. */
  signed: Uint8Array;
  /** The MAC trailer, or null for a frame without the MAC flag. */
  mac: Uint8Array | null;
}

/** Decode a raw frame's header and tensors (views into its buffer). */
export function decodeRaw(raw: RawFrame): Frame {
  const start = PRELUDE_BYTES + raw.prelude.headerBytes;
  return decodeBody(raw.signed.subarray(PRELUDE_BYTES, start), raw.signed.subarray(start));
}

/**
 * A streaming frame decoder: `push` chunks, pull whole frames with `next`; `end` at end of stream throws
 * ProtocolError if a frame was cut short.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./protocol.ts";
 * import { concatChunks, decodeRaw, FrameReader } from "./frame_reader.ts";
 * const bytes = concatChunks(encodeFrame({ type: "memory", id: 3 }));
 * const reader = new FrameReader();
 * reader.push(bytes.subarray(0, 5));
 * console.assert(reader.next() === null);
 * reader.push(bytes.subarray(5));
 * console.assert(decodeRaw(reader.next()!).header.id === 3);
 * reader.end();
 * ```
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #length = 0;
  #need: Prelude | null = null;
  #prelude: Uint8Array | null = null;
  /** What the next prelude is checked against (a receiver may change it between frames). */
  limits: FrameLimits;

  constructor(limits: Partial<FrameLimits> = {}) {
    this.limits = {
      maxHeaderBytes: limits.maxHeaderBytes ?? MAX_HEADER_BYTES,
      maxFrameBytes: limits.maxFrameBytes ?? MAX_PAYLOAD_BYTES,
    };
  }

  /** Bytes received that do not form a whole frame yet. */
  get buffered(): number {
    return this.#length;
  }

  /** Take `n` bytes off the front into `out` at `at`. */
  #take(n: number, out = new Uint8Array(n), at = 0): Uint8Array {
    const end = at + n;
    while (at < end) {
      const c = this.#chunks[0];
      const k = Math.min(c.byteLength, end - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.byteLength) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#length -= n;
    return out;
  }

  /** Add received bytes (kept as they are until frames are pulled). */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.byteLength;
  }

  /** The next whole frame, or null until more bytes arrive. Throws ProtocolError on a bad prelude. */
  next(): RawFrame | null {
    if (!this.#need) {
      if (this.#length < PRELUDE_BYTES) return null;
      this.#prelude = this.#take(PRELUDE_BYTES);
      this.#need = decodePrelude(this.#prelude, this.limits); // refuses before allocating the claimed size
    }
    const p = this.#need;
    if (this.#length < p.frameBytes - PRELUDE_BYTES) return null;
    this.#need = null;
    const macBytes = p.frameBytes - PRELUDE_BYTES - p.headerBytes - p.payloadBytes;
    const signed = new Uint8Array(p.frameBytes - macBytes);
    signed.set(this.#prelude!, 0);
    this.#take(signed.byteLength - PRELUDE_BYTES, signed, PRELUDE_BYTES);
    const mac = macBytes === MAC_BYTES ? this.#take(MAC_BYTES) : null;
    return { prelude: p, signed, mac };
  }

  /** Push a chunk and decode every frame it completes (frames without MACs; for tests and tools). */
  read(chunk: Uint8Array): Frame[] {
    this.push(chunk);
    const frames: Frame[] = [];
    for (let raw = this.next(); raw; raw = this.next()) frames.push(decodeRaw(raw));
    return frames;
  }

  /** The stream ended: throws ProtocolError if part of a frame is still buffered. */
  end(): void {
    if (!this.#need && this.#length === 0) return;
    const want = this.#need ? this.#need.frameBytes : PRELUDE_BYTES;
    const got = this.#need ? PRELUDE_BYTES + this.#length : this.#length;
    throw new ProtocolError(
      `Cannot read frame: the stream ended after '${got}' of its '${want}' bytes`,
    );
  }
}
