/**
 * Cuts a byte stream (TCP chunks of any size) into protocol frames. Chunks are kept as they arrive and
 * copied once, when a whole frame is there, into a fresh buffer, so the frame's tensors are aligned views.
 *
 * @module
 */
import {
  decodeBody,
  decodePrelude,
  type Frame,
  MAX_PAYLOAD_BYTES,
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

/**
 * A streaming frame decoder: `push` chunks, get the frames they complete; `end` at end of stream throws
 * ProtocolError if a frame was cut short.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./protocol.ts";
 * import { concatChunks, FrameReader } from "./frame_reader.ts";
 * const bytes = concatChunks(encodeFrame({ type: "memory", id: 3 }));
 * const reader = new FrameReader();
 * const frames = [...reader.push(bytes.subarray(0, 5)), ...reader.push(bytes.subarray(5))];
 * console.assert(frames.length === 1 && frames[0].header.id === 3);
 * reader.end();
 * ```
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #length = 0;
  #need: { header: number; payload: number } | null = null;
  #maxPayload: number;

  constructor(options: { maxPayloadBytes?: number } = {}) {
    this.#maxPayload = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
  }

  /** Bytes received that do not form a whole frame yet. */
  get buffered(): number {
    return this.#length;
  }

  /** Take `n` bytes off the front as one new buffer. */
  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.byteLength, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.byteLength) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#length -= n;
    return out;
  }

  /** Add received bytes; returns the frames now complete, in order. Throws ProtocolError on bad input. */
  push(chunk: Uint8Array): Frame[] {
    if (chunk.byteLength > 0) {
      this.#chunks.push(chunk);
      this.#length += chunk.byteLength;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (!this.#need) {
        if (this.#length < PRELUDE_BYTES) break;
        const p = decodePrelude(this.#take(PRELUDE_BYTES), this.#maxPayload);
        this.#need = { header: p.headerBytes, payload: p.payloadBytes };
      }
      const { header, payload } = this.#need;
      if (this.#length < header + payload) break;
      this.#need = null;
      const headerBytes = this.#take(header);
      frames.push(decodeBody(headerBytes, this.#take(payload)));
    }
    return frames;
  }

  /** The stream ended: throws ProtocolError if part of a frame is still buffered. */
  end(): void {
    if (!this.#need && this.#length === 0) return;
    const want = this.#need ? PRELUDE_BYTES + this.#need.header + this.#need.payload : PRELUDE_BYTES;
    const got = this.#need ? PRELUDE_BYTES + this.#length : this.#length;
    throw new ProtocolError(
      `Cannot read frame: the stream ended after '${got}' of its '${want}' bytes`,
    );
  }
}
