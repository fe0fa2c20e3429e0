/**
 * The host end of one bridge connection: connects, authenticates (`hello` with the host's nonce →
 * the device's `challenge` → `auth` with HMAC-SHA256 over both nonces under the key paired with that
 * device; the device's first MAC'd frame, its `hello`, proves it holds the same key), and multiplexes
 * requests by id so replies may come back in any order (a load on one lane while a run on
 * another). Device errors, timeouts and a lost connection become {@link ExecutorError}s naming the action;
 * a timeout closes the connection, since the device's state is unknown after it.
 *
 * @module
 */
import { ExecutorError } from "../runtime/core/errors.ts";
import type { TensorMap } from "../runtime/core/types.ts";
import { FrameConnection, type ReceivedFrame } from "./connection.ts";
import { fromBase64, NONCE_BYTES, randomBytes, sessionKeys, sessionProof, toBase64 } from "./crypto.ts";
import type { KeyStore } from "./keys.ts";
import { type DeviceMemory, parseReply, type Reply } from "./messages.ts";
import { type FrameHeader, PROTOCOL_VERSION, ProtocolError } from "./protocol.ts";

/** The backend name of the bridge's errors. */
export const BACKEND = "ios";

/** What the device said about itself in its `hello`. */
export interface DeviceInfo {
  device: string;
  deviceId: string;
  backend: string;
  /** Largest header + payload the device accepts in one frame. */
  maxFrameBytes: number;
  lanes: number;
  memory: DeviceMemory;
}

type Answer = Exclude<Reply, { type: "error" }>;
type Result = Extract<Reply, { type: "result" }>;
interface Pending {
  action: string;
  block: string | null;
  timer: ReturnType<typeof setTimeout>;
  resolve(r: { reply: Answer; tensors: TensorMap }): void;
  reject(e: ExecutorError): void;
}

/** Connect to `host:port` within `ms`. */
export async function connectWithin(hostname: string, port: number, ms: number): Promise<Deno.Conn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = Deno.connect({ hostname, port });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within '${ms}' ms`)), ms);
  });
  try {
    return await Promise.race([attempt, timeout]);
  } catch (e) {
    attempt.then((c) => c.close(), () => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One open connection to a device.
 *
 * @example
 * ```ts ignore
 * const link = await DeviceLink.open("127.0.0.1", 9777, { timeoutMs: 10_000 });
 * const { reply } = await link.request({ type: "memory" }, {}, "read device memory", null);
 * ```
 */
export class DeviceLink {
  readonly address: string;
  info: DeviceInfo = {
    device: "(unknown)",
    deviceId: "(unknown)",
    backend: "(unknown)",
    maxFrameBytes: 0,
    lanes: 1,
    memory: { residentBytes: 0, availableBytes: 0, rssBytes: 0 },
  };
  #conn!: FrameConnection;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #timeoutMs: number;
  #closeReason: string | null = null;
  #sendFailure: string | null = null;
  #closer: ReturnType<typeof setTimeout> | undefined;
  #idle: (() => void)[] = [];

  private constructor(address: string, timeoutMs: number) {
    this.address = address;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Connect and authenticate with the key `keys` holds for the device; throws ExecutorError("Cannot
   * connect to the iOS device at ...: ...") for a refused connection, an unpaired host or device, a
   * wrong key, or another protocol version.
   */
  static async open(
    host: string,
    port: number,
    options: { timeoutMs: number; keys: KeyStore },
  ): Promise<DeviceLink> {
    const link = new DeviceLink(`${host}:${port}`, options.timeoutMs);
    const action = `connect to the iOS device at '${link.address}'`;
    let conn: Deno.Conn;
    try {
      conn = await connectWithin(host, port, options.timeoutMs);
    } catch (e) {
      throw new ExecutorError(`Cannot ${action}: ${(e as Error).message}`, BACKEND, null, { cause: e });
    }
    link.#conn = new FrameConnection(conn, {
      onFrame: (frame) => link.#onFrame(frame),
      onClose: (error) => link.#onClose(error),
    });
    const fail = (why: string): never => {
      link.close();
      throw new ExecutorError(`Cannot ${action}: ${why}`, BACKEND, null);
    };
    const hostId = options.keys.id;
    const hostNonce = randomBytes(NONCE_BYTES);
    const challenge = (await link.#call(
      { type: "hello", version: PROTOCOL_VERSION, client: "odsora", hostId, nonce: toBase64(hostNonce) },
      {},
      action,
      null,
    )).reply;
    if (challenge.type !== "challenge") return fail(`it answered 'hello' with '${challenge.type}'`);
    const key = options.keys.key(challenge.deviceId);
    if (!key) {
      return fail(
        `this host has not paired with device '${challenge.device}' (id '${challenge.deviceId}'); pair it: ` +
          `deno run -A ios-bridge/pair.ts --pair --host ${host} --port ${port}`,
      );
    }
    link.info.device = challenge.device;
    const t = {
      hostId,
      deviceId: challenge.deviceId,
      hostNonce,
      deviceNonce: fromBase64(challenge.nonce, NONCE_BYTES),
    };
    const proof = toBase64(await sessionProof(key, t));
    const keys = await sessionKeys(key, t);
    const auth = link.#call({ type: "auth", proof }, {}, action, null); // the last frame without a MAC
    link.#conn.secure({ send: keys.hostToDevice, receive: keys.deviceToHost });
    const r = (await auth).reply;
    if (r.type !== "hello") return fail(`it answered 'auth' with '${r.type}'`);
    if (r.version !== PROTOCOL_VERSION) {
      return fail(`it speaks protocol version '${r.version}', this host speaks '${PROTOCOL_VERSION}'`);
    }
    link.info = {
      device: r.device,
      deviceId: r.deviceId,
      backend: r.backend,
      lanes: r.lanes,
      memory: r.memory,
      maxFrameBytes: r.maxFrameBytes,
    };
    link.#conn.peerMaxFrameBytes = r.maxFrameBytes;
    return link;
  }

  /** The framed connection (the security tests record, replay and alter its frames). */
  get connection(): FrameConnection {
    return this.#conn;
  }

  /** Whether the connection is gone (closed by either side, or after a timeout). */
  get closed(): boolean {
    return this.#conn.closed;
  }

  #onFrame(frame: ReceivedFrame): void {
    // once secured, only the device's refusal (an error, after which it closes) may come without a MAC
    if (this.#conn.secured && !frame.authenticated && frame.header.type !== "error") {
      throw new ProtocolError(
        `Cannot accept '${frame.header.type}' frame: it has no MAC, and this session is authenticated`,
      );
    }
    this.#onReply(parseReply(frame));
  }

  #onReply({ reply, tensors }: { reply: Reply; tensors: TensorMap }): void {
    const p = this.#pending.get(reply.id);
    if (!p) {
      // a connection-level error (id 0: the device refused a frame and closes), or a late reply
      if (reply.type === "error") this.#closeReason = `the device said: ${reply.message}`;
      return;
    }
    this.#settle(reply.id, p);
    if (reply.type === "error") {
      const device = this.info.device === "(unknown)" || p.block === null
        ? ""
        : ` on device '${this.info.device}'`;
      p.reject(new ExecutorError(`Cannot ${p.action}${device}: ${reply.message}`, BACKEND, p.block));
    } else {
      p.resolve({ reply, tensors });
    }
  }

  #onClose(error: Error | null): void {
    clearTimeout(this.#closer);
    this.#closeReason ??= error ? error.message : this.#sendFailure ?? "closed by the device";
    for (const [id, p] of this.#pending) {
      this.#settle(id, p);
      p.reject(this.#lost(p.action, p.block, error));
    }
  }

  #settle(id: number, p: Pending): void {
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (this.#pending.size === 0) this.#idle.splice(0).forEach((wake) => wake());
  }

  #lost(action: string, block: string | null, cause: unknown): ExecutorError {
    return new ExecutorError(
      `Cannot ${action}: the connection to device '${this.info.device}' at '${this.address}' is closed ` +
        `(${this.#closeReason ?? "closed"})`,
      BACKEND,
      block,
      { cause },
    );
  }

  #call(
    header: Omit<FrameHeader, "id" | "tensors">,
    tensors: TensorMap,
    action: string,
    block: string | null,
  ): Promise<{ reply: Answer; tensors: TensorMap }> {
    if (this.closed) return Promise.reject(this.#lost(action, block, null));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(id, this.#pending.get(id)!);
        this.#closeReason = `no answer to '${action}' within '${this.#timeoutMs}' ms`;
        reject(
          new ExecutorError(
            `Cannot ${action}: device '${this.info.device}' at '${this.address}' did not answer within ` +
              `'${this.#timeoutMs}' ms (the connection was closed)`,
            BACKEND,
            block,
          ),
        );
        this.close();
      }, this.#timeoutMs);
      this.#pending.set(id, { action, block, timer, resolve, reject });
      this.#conn.send({ ...header, id }, tensors).catch((e) => {
        if (e instanceof ProtocolError && this.#pending.has(id)) {
          // refused before sending (above the device's frame limit): this request fails, the link stays
          this.#settle(id, this.#pending.get(id)!);
          reject(new ExecutorError(`Cannot ${action}: ${e.message}`, BACKEND, block, { cause: e }));
          return;
        }
        // the device may have closed after telling why (an error frame still to be read): read on, and
        // close only if the stream does not end by itself
        this.#sendFailure ??= `sending failed: ${(e as Error).message}`;
        this.#closer ??= setTimeout(() => this.close(), 2000);
      });
    });
  }

  /** Send a request and wait for its `result` (ExecutorError on an `error` reply, a timeout, a lost link). */
  async request(
    header: Omit<FrameHeader, "id" | "tensors">,
    tensors: TensorMap,
    action: string,
    block: string | null,
  ): Promise<{ reply: Result; tensors: TensorMap }> {
    const answer = await this.#call(header, tensors, action, block);
    if (answer.reply.type !== "result") {
      throw new ExecutorError(`Cannot ${action}: the device answered '${answer.reply.type}'`, BACKEND, block);
    }
    return answer as { reply: Result; tensors: TensorMap };
  }

  /** Wait until no request is in flight (replies or failures), then close the connection. */
  async drainAndClose(): Promise<void> {
    if (this.#pending.size > 0) await new Promise<void>((wake) => this.#idle.push(wake));
    this.close();
    await this.#conn.done;
  }

  /** Close the connection now; requests in flight fail with "the connection ... is closed". */
  close(): void {
    this.#closeReason ??= "closed by this host";
    this.#conn?.close();
  }
}
