/**
 * A framed TCP connection, used by both ends of the bridge: `send` writes whole frames one at a time
 * (frames never interleave), and a read loop hands each received frame to `onFrame` (awaiting it, so a
 * handler may change the limits or the keys before the next frame is read) and reports the end of the
 * stream (clean, or with the error that ended it) to `onClose`, once.
 *
 * Once `secure()` is given the session's two HMAC keys, every frame sent carries the next counter value
 * in its prelude and an HMAC-SHA256 trailer over prelude, header and payload; every frame received with a
 * MAC must verify under the peer's key and carry exactly the next expected counter (replayed, dropped or
 * reordered frames are refused). A frame that breaks the protocol closes the connection after one `error`
 * frame (id 0) telling the peer why.
 *
 * @module
 */
import type { TensorMap } from "../runtime/core/types.ts";
import { hmac, hmacVerify } from "./crypto.ts";
import { concatChunks, decodeRaw, FrameReader, type RawFrame } from "./frame_reader.ts";
import {
  encodeFrame,
  type Frame,
  type FrameHeader,
  type FrameLimits,
  MAX_PAYLOAD_BYTES,
  PRELUDE_BYTES,
  ProtocolError,
} from "./protocol.ts";

/** A received frame and whether it came with a valid MAC under the session's key. */
export interface ReceivedFrame extends Frame {
  authenticated: boolean;
}

/** Callbacks of a {@link FrameConnection}. */
export interface FrameHandlers {
  /** A frame arrived (in arrival order; the next is read once this settles). A throw closes the link. */
  onFrame(frame: ReceivedFrame): void | Promise<void>;
  /** The stream ended: `error` is null for a clean close by either side. */
  onClose(error: Error | null): void;
}

/** The two HMAC keys of an authenticated session, as this side uses them. */
export interface SessionKeys {
  send: CryptoKey;
  receive: CryptoKey;
}

/**
 * Frames over a `Deno.Conn`.
 *
 * @example
 * ```ts ignore
 * const conn = new FrameConnection(await Deno.connect({ port: 9777 }), { onFrame: console.log, onClose() {} });
 * await conn.send({ type: "memory", id: 1 });
 * ```
 */
export class FrameConnection {
  #conn: Deno.Conn;
  #reader: FrameReader;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #keys: SessionKeys | null = null;
  #sent = 0n;
  #received = 0n;
  /** Largest header + payload the peer accepts (its `hello`); larger sends are refused here. */
  peerMaxFrameBytes: number = MAX_PAYLOAD_BYTES;
  /** Resolves when the read loop has ended and `onClose` was called. */
  readonly done: Promise<void>;
  /**
   * Sees (and may replace) each whole frame as it goes out, MAC included: the security tests use it to
   * record, replay and alter frames as an attacker on the network would.
   */
  tap: ((frame: Uint8Array) => Uint8Array) | null = null;

  constructor(conn: Deno.Conn, handlers: FrameHandlers, limits: Partial<FrameLimits> = {}) {
    this.#conn = conn;
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch { /* not a TCP socket */ }
    this.#reader = new FrameReader(limits);
    this.done = this.#read(handlers);
  }

  /** Whether the connection has been closed (by either side). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether `secure()` was called: frames are MAC'd both ways. */
  get secured(): boolean {
    return this.#keys !== null;
  }

  /** What the next received frame's prelude is checked against. */
  get limits(): FrameLimits {
    return this.#reader.limits;
  }
  set limits(limits: FrameLimits) {
    this.#reader.limits = limits;
  }

  /** From now on, MAC every frame sent and require a valid MAC and counter on every MAC'd frame received. */
  secure(keys: SessionKeys): void {
    this.#keys = keys;
  }

  async #open(raw: RawFrame): Promise<ReceivedFrame> {
    if (!raw.mac) return { ...decodeRaw(raw), authenticated: false };
    if (!this.#keys) {
      throw new ProtocolError("Cannot accept frame: it carries a MAC, but no session is authenticated yet");
    }
    if (
      !(await hmacVerify(
        this.#keys.receive,
        raw.mac as Uint8Array<ArrayBuffer>,
        raw.signed as Uint8Array<ArrayBuffer>,
      ))
    ) {
      throw new ProtocolError(
        "Cannot accept frame: its MAC does not match (the frame was altered, or sent under another key)",
      );
    }
    if (raw.prelude.counter !== this.#received) {
      throw new ProtocolError(
        `Cannot accept frame: its counter is '${raw.prelude.counter}', expected '${this.#received}' ` +
          "(a replayed, dropped or reordered frame)",
      );
    }
    this.#received++;
    return { ...decodeRaw(raw), authenticated: true };
  }

  async #read(handlers: FrameHandlers): Promise<void> {
    let error: Error | null = null;
    const buf = new Uint8Array(1 << 20);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#reader.push(buf.slice(0, n));
        for (let raw = this.#reader.next(); raw; raw = this.#reader.next()) {
          await handlers.onFrame(await this.#open(raw));
          if (this.#closed) break;
        }
        if (this.#closed) break;
      }
      if (!this.#closed) this.#reader.end();
    } catch (e) {
      if (!this.#closed) {
        error = e as Error; // our own close() interrupts the pending read
        if (e instanceof ProtocolError) {
          await this.send({ type: "error", id: 0, message: error.message }).catch(() => {});
        }
      }
    }
    this.close();
    handlers.onClose(error);
  }

  /**
   * Write one frame; frames from concurrent calls go out whole, in call order. Throws ProtocolError at once
   * when the frame is above the peer's announced limit (nothing is sent).
   */
  send(header: Omit<FrameHeader, "tensors">, tensors: TensorMap = {}): Promise<void> {
    const keys = this.#keys;
    const chunks = encodeFrame(header, tensors, keys ? { counter: 0n } : null);
    const size = chunks.reduce((n, c) => n + c.byteLength, 0) - PRELUDE_BYTES;
    if (size > this.peerMaxFrameBytes) {
      return Promise.reject(
        new ProtocolError(
          `Cannot send '${header.type}' frame: its '${size}' bytes exceed the peer's frame limit ` +
            `'${this.peerMaxFrameBytes}'`,
        ),
      );
    }
    const write = async () => {
      if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
      let out = chunks;
      if (keys) {
        const counter = this.#sent++;
        new DataView(chunks[0].buffer, chunks[0].byteOffset).setBigUint64(24, counter, true);
        const signed = concatChunks(chunks) as Uint8Array<ArrayBuffer>;
        out = [signed, await hmac(keys.send, signed)];
      }
      if (this.tap) out = [this.tap(concatChunks(out))];
      for (const chunk of out) {
        let at = 0;
        while (at < chunk.byteLength) at += await this.#conn.write(chunk.subarray(at));
      }
    };
    const p = this.#writing.then(write);
    this.#writing = p.catch(() => {});
    return p;
  }

  /** Write raw bytes as they are (the security tests replay recorded frames with it). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    const write = async () => {
      let at = 0;
      while (at < bytes.byteLength) at += await this.#conn.write(bytes.subarray(at));
    };
    const p = this.#writing.then(write);
    this.#writing = p.catch(() => {});
    return p;
  }

  /** Close the socket (the read loop then ends and reports `onClose`). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}
