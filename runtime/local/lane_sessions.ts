/**
 * What a lane does: the onnxruntime-node sessions it owns and the {@link LaneCall}s it answers. A lane runs
 * either in a Deno worker (runtime/local/lane_worker.ts: `InferenceSession.create` and `run` block the
 * thread that calls them, so a worker keeps them off the main thread) or, for an `inline` lane, in the
 * calling thread itself (no worker isolate: the least memory, when one lane is all a budget allows). This
 * is the only module that imports `onnxruntime-node`.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import type { LaneCall, LaneReply, LaneRequest, WireTensor } from "./_lane_protocol.ts";
import { dirname } from "node:path";
import { collectGarbage, fileMappings, mallocTrim, populate } from "../core/memory.ts";
import { releaseBuffer } from "../core/tensor_core.ts";

/** A lane's answer to one call: the reply (without its id) and the buffers it hands over. */
export interface LaneAnswer {
  reply: DistributiveOmit<LaneReply, "id">;
  transfer: ArrayBuffer[];
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function toOrt(name: string, t: WireTensor, session: ort.InferenceSession): ort.Tensor {
  const meta = session.inputMetadata?.find((m) => m.name === name);
  const wantsBool = meta !== undefined && meta.isTensor && meta.type === "bool";
  switch (t.dtype) {
    case "float32":
      return new ort.Tensor("float32", new Float32Array(t.buffer), t.dims);
    case "int64":
      return new ort.Tensor("int64", new BigInt64Array(t.buffer), t.dims);
    case "uint8":
      return new ort.Tensor(wantsBool ? "bool" : "uint8", new Uint8Array(t.buffer), t.dims);
  }
}

function fromOrt(name: string, t: ort.Tensor): WireTensor {
  const dtype = t.type === "bool" ? "uint8" : t.type;
  if (dtype !== "float32" && dtype !== "int64" && dtype !== "uint8") {
    throw new Error(`output '${name}' has unsupported dtype '${t.type}'`);
  }
  const data = t.data as Float32Array | BigInt64Array | Uint8Array;
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength &&
    data.buffer instanceof ArrayBuffer;
  const buffer = whole ? data.buffer as ArrayBuffer : data.slice().buffer as ArrayBuffer;
  return { dtype, dims: [...t.dims], buffer };
}

/** Protobuf field `n` of wire type 2 (length-delimited) holding `body`. */
function field(n: number, body: Uint8Array | string): number[] {
  const bytes = typeof body === "string" ? [...new TextEncoder().encode(body)] : [...body];
  return [(n << 3) | 2, bytes.length, ...bytes];
}

/** An ONNX model of one Identity node on a float32 [1] tensor (opset 13), hand-encoded. */
function identityModel(): Uint8Array {
  const u = (a: number[]) => new Uint8Array(a);
  const tensorType = u(field(1, u([(1 << 3) | 0, 1, ...field(2, u(field(1, u([(1 << 3) | 0, 1]))))])));
  const value = (name: string) => u([...field(1, name), ...field(2, tensorType)]);
  const node = u([...field(1, "x"), ...field(2, "y"), ...field(4, "Identity")]);
  const graph = u([...field(1, node), ...field(2, "g"), ...field(11, value("x")), ...field(12, value("y"))]);
  const opset = u([...field(1, ""), (2 << 3) | 0, 13]);
  return u([(1 << 3) | 0, 7, ...field(7, graph), ...field(8, opset)]);
}

/**
 * One lane's sessions. Calls must come one at a time, in order (the caller queues them).
 *
 * @example
 * ```ts ignore
 * const lane = new LaneSessions();
 * await lane.answer({ op: "ready" });
 * const { reply } = await lane.answer({ op: "load", path: "block.onnx", options });
 * ```
 */
export class LaneSessions {
  #sessions = new Map<number, ort.InferenceSession>();
  /** Sessions whose weights were pre-packed into this process's heap (the others map their weight files). */
  #packed = new Set<number>();
  #next = 1;

  /** Carry out one call; a failure rejects with the onnxruntime error. */
  async answer(req: LaneCall): Promise<LaneAnswer> {
    switch (req.op) {
      case "load": {
        const before = req.options.prepack || !req.options.populate
          ? null
          : new Set(fileMappings().map((m) => m.start));
        const session = await ort.InferenceSession.create(req.path, {
          executionProviders: ["cpu"],
          enableCpuMemArena: req.options.arena,
          intraOpNumThreads: req.options.threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: req.options.optimization,
          logSeverityLevel: 3,
          extra: {
            session: {
              intra_op: { allow_spinning: "0" },
              inter_op: { allow_spinning: "0" },
              disable_prepacking: req.options.prepack ? "0" : "1",
            },
          },
        });
        if (before) {
          // Without pre-packing, onnxruntime keeps the weights as memory-mapped external data that the first
          // run would page in on the compute path: fault them in here, on the loading lane, instead.
          const dir = dirname(req.path) + "/";
          populate(fileMappings().filter((m) => !before.has(m.start) && m.path.startsWith(dir)));
        } else if (req.options.trim && req.options.prepack) {
          // Pre-packing leaves the unpacked copies freed in the heap: hand them back now (a kept block may
          // never unload during the run).
          mallocTrim();
        }
        const id = this.#next++;
        this.#sessions.set(id, session);
        if (req.options.prepack) this.#packed.add(id);
        return { reply: { ok: true, session: id, inputs: [...session.inputNames] }, transfer: [] };
      }
      case "run": {
        const session = this.#sessions.get(req.session);
        if (!session) throw new Error(`session '${req.session}' is not loaded on this lane`);
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(req.feeds)) feeds[name] = toOrt(name, t, session);
        const results = await session.run(feeds);
        const outputs: Record<string, WireTensor> = {};
        for (const name of session.outputNames) outputs[name] = fromOrt(name, results[name] as ort.Tensor);
        // The inputs are garbage now: free their memory at once instead of when this thread next collects
        // garbage (a block call's inputs are megabytes; waiting would hold them outside any memory plan).
        for (const t of Object.values(req.feeds)) releaseBuffer(t.buffer);
        return { reply: { ok: true, outputs }, transfer: Object.values(outputs).map((o) => o.buffer) };
      }
      case "unload": {
        const session = this.#sessions.get(req.session);
        this.#sessions.delete(req.session);
        await session?.release();
        // Trim only after freeing heap weights: a mapped session's weights leave with its mappings, and
        // trimming would hand back the heap pages the next run's activations reuse (page faults each run).
        const wasPacked = this.#packed.delete(req.session);
        // Every unload of a budgeted run also collects this thread's garbage (the run's tensors, the
        // session's wrappers) where the process exposes `gc` (`--v8-flags=--expose-gc`, as `deno task run`
        // does): left to V8, the heap grows pass by pass outside any plan.
        if (req.collect || req.trim === "always") collectGarbage(req.collect === "reduce");
        if (req.trim === "always" || (req.trim && wasPacked)) mallocTrim();
        return { reply: { ok: true }, transfer: [] };
      }
      case "ready": {
        // The module (onnxruntime-node included) is loaded once this lane answers; the first session of
        // the process also sets up onnxruntime's environment (op schemas, kernel registries: tens of MiB
        // that stay): create one on a one-node model so that a lane's measured start-up includes it.
        const probe = await ort.InferenceSession.create(identityModel(), {
          executionProviders: ["cpu"],
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
          logSeverityLevel: 3,
        });
        await probe.release();
        return { reply: { ok: true }, transfer: [] };
      }
      case "close": {
        for (const s of this.#sessions.values()) await s.release();
        this.#sessions.clear();
        this.#packed.clear();
        mallocTrim();
        return { reply: { ok: true }, transfer: [] };
      }
    }
  }
}

/**
 * A lane's request handler: `sessions` answer requests strictly in arrival order, and each reply (an error
 * as `{ ok: false, error }`) goes to `send` with its request's id. A worker lane and an inline lane both
 * serve their requests with it.
 *
 * @example
 * ```ts ignore
 * const serve = serveInOrder(new LaneSessions(), (reply, transfer) => self.postMessage(reply, transfer));
 * serve({ id: 1, op: "ready" });
 * ```
 */
export function serveInOrder(
  sessions: LaneSessions,
  send: (reply: LaneReply, transfer: ArrayBuffer[]) => void,
): (req: LaneRequest) => void {
  let queue: Promise<void> = Promise.resolve();
  return (req) => {
    queue = queue.then(async () => {
      const { reply, transfer } = await sessions.answer(req);
      send({ ...reply, id: req.id } as LaneReply, transfer);
    }).catch((err: unknown) => {
      send({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }, []);
    });
  };
}
