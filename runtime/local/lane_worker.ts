/**
 * A lane: a Deno worker that owns onnxruntime-node sessions. `InferenceSession.create` and `run` block
 * the thread that calls them, so each lane runs them off the main thread; the local executor talks to it
 * with {@link LaneRequest} messages handled strictly in arrival order. This is the only module that imports
 * `onnxruntime-node`.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import type { LaneReply, LaneRequest, WireTensor } from "./_lane_protocol.ts";
import { dirname } from "node:path";
import { collectGarbage, fileMappings, mallocTrim, populate } from "../core/memory.ts";
import { releaseBuffer } from "../core/tensor_core.ts";

const sessions = new Map<number, ort.InferenceSession>();
/** Sessions whose weights were pre-packed into this process's heap (the others map their weight files). */
const packed = new Set<number>();
let nextSession = 1;
const scope = self as unknown as {
  postMessage(message: LaneReply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<LaneRequest>) => void) | null;
  close(): void;
};

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

async function handle(req: LaneRequest): Promise<void> {
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
      const id = nextSession++;
      sessions.set(id, session);
      if (req.options.prepack) packed.add(id);
      scope.postMessage({ id: req.id, ok: true, session: id, inputs: [...session.inputNames] });
      return;
    }
    case "run": {
      const session = sessions.get(req.session);
      if (!session) throw new Error(`session '${req.session}' is not loaded on this lane`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(req.feeds)) feeds[name] = toOrt(name, t, session);
      const results = await session.run(feeds);
      const outputs: Record<string, WireTensor> = {};
      for (const name of session.outputNames) outputs[name] = fromOrt(name, results[name] as ort.Tensor);
      scope.postMessage({ id: req.id, ok: true, outputs }, Object.values(outputs).map((o) => o.buffer));
      // The inputs are garbage now: free their memory at once instead of when this worker next collects
      // garbage (a block call's inputs are megabytes; waiting would hold them outside any memory plan).
      for (const t of Object.values(req.feeds)) releaseBuffer(t.buffer);
      return;
    }
    case "unload": {
      const session = sessions.get(req.session);
      sessions.delete(req.session);
      await session?.release();
      // Trim only after freeing heap weights: a mapped session's weights leave with its mappings, and
      // trimming would hand back the heap pages the next run's activations reuse (page faults each run).
      const wasPacked = packed.delete(req.session);
      // Every unload of a budgeted run also collects this worker's garbage (the run's tensors, the session's
      // wrappers) where the process exposes `gc` (`--v8-flags=--expose-gc`, as `deno task run` does): left
      // to V8, the heap grows pass by pass outside any plan.
      if (req.collect || req.trim === "always") collectGarbage();
      if (req.trim === "always" || (req.trim && wasPacked)) mallocTrim();
      scope.postMessage({ id: req.id, ok: true });
      return;
    }
    case "ready": {
      // The module (onnxruntime-node included) is loaded once this worker answers; the first session of
      // the process also sets up onnxruntime's environment (op schemas, kernel registries: tens of MiB
      // that stay): create one on a one-node model so that a lane's measured start-up includes it.
      const probe = await ort.InferenceSession.create(identityModel(), {
        executionProviders: ["cpu"],
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        logSeverityLevel: 3,
      });
      await probe.release();
      scope.postMessage({ id: req.id, ok: true });
      return;
    }
    case "close": {
      for (const s of sessions.values()) await s.release();
      sessions.clear();
      packed.clear();
      mallocTrim();
      scope.postMessage({ id: req.id, ok: true });
      return;
    }
  }
}

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e: MessageEvent<LaneRequest>) => {
  const req = e.data;
  queue = queue.then(() => handle(req)).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    scope.postMessage({ id: req.id, ok: false, error: message });
  });
};
