/**
 * The loopback device: a real bridge server on this machine that runs the requested blocks with the
 * local onnxruntime executor (runtime/local/executor_local.ts), one executor (and its worker lanes) per host
 * connection. It speaks exactly the protocol the iPhone app speaks (pairing, authenticated sessions,
 * frame limits, one session at a time), so the `ios` executor, the protocol and the plans can be
 * developed and tested without a phone.
 *
 *   deno run -A ios-bridge/loopback_device.ts --port 9777 --bundle models/default --keys FILE --pair
 *
 * `--pair` prints a fresh 6-digit code whenever a host asks to pair (`--pair-code 123456`: one fixed,
 * single-use code instead); `--keys FILE` keeps the paired hosts (mode 0600; default: in memory only);
 * `--forget HOST_ID` removes a host from that file and exits. The frame limit it announces is 512 MiB, or
 * `--max-frame SIZE`, or with `--max-dims B=2,T=5,...` (the `coreml_export.py --dims` syntax) the largest
 * block input of the bundle at those dims plus 64 KiB.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { OdsoraError } from "../runtime/core/errors.ts";
import { local } from "../runtime/local/executor_local.ts";
import { parseBudget } from "../runtime/recipe/recipe_schema.ts";
import { serveDeviceSession } from "./device_session.ts";
import { loadBundle } from "../runtime/bundle/bundle.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  type DeviceTrust,
  frameLimitFor,
  type PairingOptions,
  PairingWindow,
  parseDims,
} from "./device_trust.ts";
import { KeyStore } from "./keys.ts";

/** The loopback device cannot start (bad option, missing bundle folder, port in use). */
export class LoopbackError extends OdsoraError {}

/** Options of {@link startLoopbackDevice}. */
export interface LoopbackOptions {
  /** The bundle folder whose block files the device may load (nothing outside it). */
  bundleDir: string;
  /** Address to bind; default 127.0.0.1. */
  hostname?: string;
  /** Port to bind; 0 picks a free one. Default 9777. */
  port?: number;
  /** Device name reported in `hello`; default "loopback". */
  device?: string;
  /** Worker lanes per connection (device-side serial queues); default 2. */
  lanes?: number;
  /** onnxruntime intra-op threads per session; default 1. */
  threads?: number;
  /** Paired hosts; default: a new store in memory (no host is paired). */
  keys?: KeyStore;
  /** Pairing (code shown via `showCode`); default: the device does not pair. */
  pairing?: PairingOptions;
  /** Largest header + payload accepted on a session; default 512 MiB. */
  maxFrameBytes?: number;
  /** The device's log (refusals, broken sessions, pairings); default: stderr. */
  log?: (line: string) => void;
}

/** A running loopback device. */
export interface LoopbackDevice {
  readonly hostname: string;
  readonly port: number;
  readonly bundleDir: string;
  /** What the device trusts: its paired hosts (`keys.forget(hostId)` forgets one), pairing window, limits. */
  readonly trust: DeviceTrust;
  /** Stop listening, drop the connections, and wait until every session released its blocks. */
  close(): Promise<void>;
}

/**
 * Start a loopback device (listening when this returns).
 *
 * @example
 * ```ts ignore
 * const device = startLoopbackDevice({ bundleDir: "models/default", port: 0 });
 * const executor = ios.create(ios.options.parse({ port: device.port }));
 * ```
 */
export function startLoopbackDevice(options: LoopbackOptions): LoopbackDevice {
  const bundleDir = resolve(options.bundleDir);
  if (!existsSync(bundleDir) || !statSync(bundleDir).isDirectory()) {
    throw new LoopbackError(`Cannot start the loopback device: bundle folder '${bundleDir}' does not exist`);
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 9777;
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname, port });
  } catch (e) {
    throw new LoopbackError(
      `Cannot start the loopback device on '${hostname}:${port}': ${(e as Error).message}`,
    );
  }
  const trust: DeviceTrust = {
    keys: options.keys ?? KeyStore.memory("device"),
    pairing: options.pairing ? new PairingWindow(options.pairing) : null,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    busy: false,
  };
  const log = options.log ?? ((line: string) => console.error(`loopback device: ${line}`));
  const conns = new Set<Deno.Conn>();
  const sessions = new Set<Promise<void>>();
  const lanes = options.lanes ?? 2;
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const executor = local.create(local.options.parse({ lanes, threads: options.threads ?? 1 }));
        const session = serveDeviceSession(conn, {
          bundleDir,
          device: options.device ?? "loopback",
          backend: "onnxruntime",
          lanes,
          executor,
          trust,
          log,
        }).catch((e) => log((e as Error).message)).finally(() => {
          conns.delete(conn);
          sessions.delete(session);
        });
        sessions.add(session);
      }
    } catch { /* the listener was closed */ }
  })();
  return {
    hostname,
    port: (listener.addr as Deno.NetAddr).port,
    bundleDir,
    trust,
    async close() {
      listener.close();
      await accepting;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await Promise.allSettled([...sessions]);
    },
  };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      bundle: { type: "string" },
      port: { type: "string", default: "9777" },
      host: { type: "string", default: "127.0.0.1" },
      lanes: { type: "string", default: "2" },
      threads: { type: "string", default: "1" },
      name: { type: "string", default: "loopback" },
      keys: { type: "string" },
      pair: { type: "boolean" },
      "pair-code": { type: "string" },
      forget: { type: "string" },
      "max-frame": { type: "string" },
      "max-dims": { type: "string" },
    },
  });
  const int = (key: "port" | "lanes" | "threads", min: number) => {
    const n = Number(values[key]);
    if (!Number.isInteger(n) || n < min || n > 65535) {
      throw new LoopbackError(
        `Cannot start the loopback device: --${key} '${values[key]}' is not an integer >= ${min}`,
      );
    }
    return n;
  };
  const keys = values.keys ? await KeyStore.open(values.keys, "device") : KeyStore.memory("device");
  if (values.forget !== undefined) {
    if (!values.keys) throw new LoopbackError("Cannot forget a host: --keys FILE is required");
    if (!(await keys.forget(values.forget))) {
      throw new LoopbackError(`Cannot forget host '${values.forget}': it is not paired in '${values.keys}'`);
    }
    console.log(`forgot host '${values.forget}'`);
    return 0;
  }
  if (!values.bundle) throw new LoopbackError("Cannot start the loopback device: --bundle DIR is required");
  let maxFrameBytes: number | undefined;
  if (values["max-frame"] !== undefined) {
    const b = parseBudget(values["max-frame"]);
    if (b === null || typeof b === "string" || !("bytes" in b)) {
      throw new LoopbackError(
        `Cannot start the loopback device: --max-frame '${values["max-frame"]}' is not a size`,
      );
    }
    maxFrameBytes = b.bytes;
  }
  if (values["max-dims"] !== undefined) {
    try {
      maxFrameBytes = frameLimitFor(await loadBundle(values.bundle), parseDims(values["max-dims"]));
    } catch (e) {
      throw new LoopbackError(`Cannot start the loopback device: --max-dims: ${(e as Error).message}`);
    }
  }
  const pairing = values.pair || values["pair-code"] !== undefined
    ? {
      code: values["pair-code"],
      showCode: (code: string) => console.log(`pairing code: ${code} (valid for 120 s)`),
    }
    : undefined;
  const device = startLoopbackDevice({
    keys,
    pairing,
    maxFrameBytes,
    bundleDir: values.bundle,
    hostname: values.host,
    port: int("port", 0),
    lanes: int("lanes", 1),
    threads: int("threads", 1),
    device: values.name,
  });
  console.log(
    `loopback device '${values.name}' listening on ${device.hostname}:${device.port} (bundle '${device.bundleDir}', ` +
      `id '${keys.id}', ${pairing ? "pairing open" : "not pairing"})`,
  );
  const stop = () => device.close().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  return await new Promise<number>(() => {});
}

if (import.meta.main) {
  main(Deno.args).catch((e) => {
    console.error((e as Error).message);
    Deno.exit(1);
  });
}
