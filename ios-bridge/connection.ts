/**
 * A framed TCP connection, used by both ends of the bridge: `send` writes whole frames one at a time
 * (frames never interleave), and a read loop hands each received frame to `onFrame` and reports the end
 * of the stream (clean, or with the error that ended it) to `onClose`, once.
 *
 * @module
 */
import type { TensorMap } from "../runtime/types.ts";
import { FrameReader } from "./frame_reader.ts";
import { encodeFrame, type Frame, type FrameHeader } from "./protocol.ts";

/** Callbacks of a {@link FrameConnection}. */
export interface FrameHandlers {
  /** A frame arrived (called in arrival order). A throw here closes the connection with that error. */
  onFrame(frame: Frame): void;
  /** The stream ended: `error` is null for a clean close by either side. */
  onClose(error: Error | null): void;
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
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  /** Resolves when the read loop has ended and `onClose` was called. */
  readonly done: Promise<void>;

  constructor(conn: Deno.Conn, handlers: FrameHandlers, options: { maxPayloadBytes?: number } = {}) {
    this.#conn = conn;
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch { /* not a TCP socket */ }
    this.done = this.#read(handlers, new FrameReader(options));
  }

  /** Whether the connection has been closed (by either side). */
  get closed(): boolean {
    return this.#closed;
  }

  async #read(handlers: FrameHandlers, reader: FrameReader): Promise<void> {
    let error: Error | null = null;
    const buf = new Uint8Array(1 << 20);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        for (const frame of reader.push(buf.slice(0, n))) handlers.onFrame(frame);
      }
      reader.end();
    } catch (e) {
      if (!this.#closed) error = e as Error; // our own close() interrupts the pending read
    }
    this.close();
    handlers.onClose(error);
  }

  /** Write one frame; frames from concurrent calls go out whole, in call order. */
  send(header: Omit<FrameHeader, "tensors">, tensors: TensorMap = {}): Promise<void> {
    const chunks = encodeFrame(header, tensors);
    const write = async () => {
      if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
      for (const chunk of chunks) {
        let at = 0;
        while (at < chunk.byteLength) at += await this.#conn.write(chunk.subarray(at));
      }
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
