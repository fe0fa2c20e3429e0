/**
 * The device end of one bridge connection, over any {@link Executor} (the loopback device uses the local
 * onnxruntime executor; the iPhone app does the same in Swift over CoreML). Like the authors' app
 * (ManagedMLModel: one serial queue per model), every lane is a serial queue: a block's load, runs and
 * unload go through its lane's queue in arrival order, while other lanes proceed concurrently. Block
 * files are resolved inside the device's bundle folder and nowhere else. When the host disconnects,
 * the session waits for its queues and releases every block it still holds.
 *
 * @module
 */
import { realpathSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import type { Executor, LoadedBlock, TensorMap } from "../runtime/types.ts";
import { FrameConnection } from "./connection.ts";
import { parseRequest, type Request } from "./messages.ts";
import { type Frame, PROTOCOL_VERSION, ProtocolError } from "./protocol.ts";

/** What a device session serves with. */
export interface DeviceSessionOptions {
  /** The folder block files are resolved in (its real path is taken once). */
  bundleDir: string;
  /** Device name and backend, reported in `hello`. */
  device: string;
  backend: string;
  /** Serial queues the device runs at once; plan lane i uses queue i mod lanes. */
  lanes: number;
  /** Where the blocks run (started with `lanes` lanes at the first `hello`; closed at disconnect). */
  executor: Executor;
}

interface Handle {
  lane: number;
  label: string;
  loaded: Promise<LoadedBlock>;
}

/** Resolve a block file named by the host inside `root` (a real path); throws if it leaves the folder. */
export function resolveInside(root: string, file: string): string {
  const outside = () =>
    new ProtocolError(`Cannot resolve block file '${file}': it is outside the device's bundle folder`);
  const inside = (rel: string) =>
    rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
  if (isAbsolute(file) || file.includes("\0") || !inside(relative(root, join(root, file)))) throw outside();
  let real: string;
  try {
    real = realpathSync(join(root, file));
  } catch {
    throw new ProtocolError(
      `Cannot resolve block file '${file}': it does not exist in the device's bundle folder`,
    );
  }
  if (!inside(relative(root, real))) throw outside(); // a symlink out of the folder
  return real;
}

/**
 * Serve one host connection until it closes; resolves once every block it loaded is released.
 *
 * @example
 * ```ts ignore
 * for await (const conn of Deno.listen({ hostname: "127.0.0.1", port: 9777 })) {
 *   serveDeviceSession(conn, { bundleDir, device: "loopback", backend: "onnxruntime", lanes: 2,
 *     executor: local.create({ threads: 1, arena: false, trim: true }) });
 * }
 * ```
 */
export async function serveDeviceSession(conn: Deno.Conn, options: DeviceSessionOptions): Promise<void> {
  const root = realpathSync(options.bundleDir);
  const { executor, lanes } = options;
  const handles = new Map<number, Handle>();
  const queues = new Map<number, Promise<unknown>>();
  let greeted = false;

  const enqueue = <T>(lane: number, work: () => Promise<T>): Promise<T> => {
    const p = (queues.get(lane) ?? Promise.resolve()).then(work);
    queues.set(lane, p.catch(() => {}));
    return p;
  };
  const reply = (
    id: number,
    work: () => Promise<{ fields?: Record<string, unknown>; tensors?: TensorMap }>,
  ) => {
    const started = performance.now();
    work().then(
      ({ fields, tensors }) =>
        link.send({ type: "result", id, elapsedMs: performance.now() - started, ...fields }, tensors),
      (e) => link.send({ type: "error", id, message: (e as Error).message }),
    ).catch(() => {/* the host is gone */});
  };
  const handleOf = (block: number, action: string): Handle => {
    const h = handles.get(block);
    if (!h) {
      throw new ProtocolError(`Cannot ${action} block '${block}': it was never loaded on this connection`);
    }
    return h;
  };

  const serve = (req: Request, tensors: TensorMap) => {
    if (req.type === "hello") {
      return reply(req.id, async () => {
        if (req.version !== PROTOCOL_VERSION) {
          throw new ProtocolError(
            `Cannot greet host '${req.client}': it speaks protocol version '${req.version}', ` +
              `this device speaks '${PROTOCOL_VERSION}'`,
          );
        }
        if (!greeted) await executor.start(lanes);
        greeted = true;
        const memory = await executor.memory();
        return {
          fields: {
            type: "hello",
            version: PROTOCOL_VERSION,
            device: options.device,
            backend: options.backend,
            lanes,
            memory,
          },
        };
      });
    }
    if (!greeted) {
      return reply(req.id, () => Promise.reject(new ProtocolError(`Cannot ${req.type}: say 'hello' first`)));
    }
    if (req.type === "memory") {
      return reply(req.id, async () => ({ fields: { memory: await executor.memory() } }));
    }
    if (req.type === "load") {
      const lane = req.lane % lanes;
      const label = `${req.stage}/${req.name}`;
      if (handles.has(req.block)) {
        return reply(
          req.id,
          () => Promise.reject(new ProtocolError(`Cannot load block '${req.block}': the id is in use`)),
        );
      }
      const loaded = enqueue(lane, () => {
        const path = resolveInside(root, req.file);
        return executor.load({ stage: req.stage, name: req.name, path, bytes: req.bytes, lane });
      });
      handles.set(req.block, { lane, label, loaded });
      return reply(req.id, async () => (await loaded, {}));
    }
    if (req.type === "run") {
      return reply(req.id, async () => {
        const h = handleOf(req.block, "run");
        const outputs = await enqueue(h.lane, async () => executor.run(await h.loaded, tensors));
        return { tensors: outputs };
      });
    }
    return reply(req.id, async () => {
      const h = handleOf(req.block, "unload");
      handles.delete(req.block);
      await enqueue(h.lane, async () => executor.unload(await h.loaded));
      return {};
    });
  };

  const link = new FrameConnection(conn, {
    onFrame: (frame: Frame) => {
      let parsed: ReturnType<typeof parseRequest>;
      try {
        parsed = parseRequest(frame);
      } catch (e) {
        link.send({ type: "error", id: frame.header.id, message: (e as Error).message }).catch(() => {});
        return;
      }
      serve(parsed.request, parsed.tensors);
    },
    onClose: () => {},
  });
  await link.done;
  await Promise.allSettled([...queues.values()]);
  await Promise.allSettled([...handles.values()].map(async (h) => executor.unload(await h.loaded)));
  await executor.close();
}
