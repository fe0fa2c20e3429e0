/**
 * The device end of one bridge connection, over any {@link Executor} (the loopback device uses the local
 * onnxruntime executor; the iPhone app does the same in Swift over CoreML). Like the authors' app
 * (ManagedMLModel: one serial queue per model), every lane is a serial queue: a block's load, runs and
 * unload go through its lane's queue in arrival order, while other lanes proceed concurrently. Block
 * files are resolved inside the device's bundle folder and nowhere else. When the host disconnects,
 * the session waits for its queues and releases every block it still holds.
 *
 * Before any of that, the connection either pairs (`pair`, `pair-confirm`: ECDH + the code shown on the
 * device) and ends, or authenticates (`hello` → `challenge` → `auth` with an HMAC over both nonces under
 * the paired key); only then may frames carry payloads, and every frame carries a MAC and a counter. A
 * refusal is one `error` frame, one line in the device's log, and the connection closes; nothing loads.
 *
 * @module
 */
import { realpathSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import type { Executor, LoadedBlock, TensorMap } from "../runtime/core/types.ts";
import { FrameConnection } from "./connection.ts";
import {
  ecdhKeyPair,
  ecdhSecret,
  fromBase64,
  hmacVerify,
  NONCE_BYTES,
  pairingKey,
  pairingProof,
  pairingProofData,
  type PairingTranscript,
  randomBytes,
  sessionKeys,
  sessionProofData,
  type SessionTranscript,
  toBase64,
} from "./crypto.ts";
import { type DeviceTrust, HANDSHAKE_MAX_FRAME_BYTES } from "./device_trust.ts";
import { parseRequest, type Request } from "./messages.ts";
import { MAX_HEADER_BYTES, PROTOCOL_VERSION, ProtocolError } from "./protocol.ts";
import type { ReceivedFrame } from "./connection.ts";

/** What a device session serves with. */
export interface DeviceSessionOptions {
  /** The folder block files are resolved in (its real path is taken once). */
  bundleDir: string;
  /** Device name and backend, reported in `hello`. */
  device: string;
  backend: string;
  /** Serial queues the device runs at once; plan lane i uses queue i mod lanes. */
  lanes: number;
  /** Where the blocks run (started with `lanes` lanes once a session is authenticated; closed at disconnect). */
  executor: Executor;
  /** Paired hosts, the pairing window, the frame limit, one session at a time (shared by connections). */
  trust: DeviceTrust;
  /** The device's log: one line per refused connection or broken session. */
  log?: (line: string) => void;
  /** Most ms from connect to an authenticated session (or a finished pairing); default 30000. */
  handshakeMs?: number;
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

type Handshake =
  | { step: "new" }
  | { step: "challenged"; hostId: string; key: Uint8Array<ArrayBuffer>; t: SessionTranscript }
  | {
    step: "pairing";
    client: string;
    privateKey: CryptoKey;
    hostPublic: Uint8Array<ArrayBuffer>;
    t: PairingTranscript;
  }
  | { step: "paired" }
  | { step: "session"; hostId: string };

/**
 * Serve one host connection until it closes; resolves once every block it loaded is released.
 *
 * @example
 * ```ts ignore
 * const trust = { keys: await KeyStore.open(null, "device"), pairing: null, maxFrameBytes: 2 ** 29, busy: false };
 * for await (const conn of Deno.listen({ hostname: "127.0.0.1", port: 9777 })) {
 *   serveDeviceSession(conn, { bundleDir, device: "loopback", backend: "onnxruntime", lanes: 2, trust,
 *     executor: local.create({ threads: 1, arena: false, trim: true }) });
 * }
 * ```
 */
export async function serveDeviceSession(conn: Deno.Conn, options: DeviceSessionOptions): Promise<void> {
  const root = realpathSync(options.bundleDir);
  const { executor, lanes, trust } = options;
  const log = options.log ?? (() => {});
  const handles = new Map<number, Handle>();
  const queues = new Map<number, Promise<unknown>>();
  let hs: Handshake = { step: "new" };
  let started = false;
  let holdsSession = false;
  let holdsPairing = false;

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
  /** Refuse the connection: one error frame, one log line, close. */
  const refuse = async (id: number, message: string) => {
    log(message);
    await link.send({ type: "error", id, message }).catch(() => {});
    link.close();
  };
  const handleOf = (block: number, action: string): Handle => {
    const h = handles.get(block);
    if (!h) {
      throw new ProtocolError(`Cannot ${action} block '${block}': it was never loaded on this connection`);
    }
    return h;
  };
  const versionError = (req: { version: number; client: string }) =>
    req.version === PROTOCOL_VERSION
      ? null
      : `Cannot greet host '${req.client}': it speaks protocol version '${req.version}', ` +
        `this device speaks '${PROTOCOL_VERSION}'`;

  /** Pairing and the session greeting: frames without a MAC, no payloads. */
  const handshake = async (req: Request): Promise<void> => {
    const deviceId = trust.keys.id;
    if (req.type === "hello" && hs.step === "new") {
      const bad = versionError(req);
      if (bad) return await refuse(req.id, bad);
      const key = trust.keys.key(req.hostId);
      if (!key) {
        return await refuse(
          req.id,
          `Cannot open a session for host '${req.hostId}' ('${req.client}'): it is not paired with device ` +
            `'${options.device}' (pair it: deno run -A ios-bridge/pair.ts --pair)`,
        );
      }
      const t = {
        hostId: req.hostId,
        deviceId,
        hostNonce: fromBase64(req.nonce, NONCE_BYTES),
        deviceNonce: randomBytes(NONCE_BYTES),
      };
      hs = { step: "challenged", hostId: req.hostId, key, t };
      await link.send({
        type: "challenge",
        id: req.id,
        deviceId,
        device: options.device,
        nonce: toBase64(t.deviceNonce),
      });
      return;
    }
    if (req.type === "auth" && hs.step === "challenged") {
      const { hostId, key, t } = hs;
      if (!(await hmacVerify(key, fromBase64(req.proof, 32), sessionProofData(t)))) {
        return await refuse(
          req.id,
          `Cannot authenticate host '${hostId}': its proof does not match the key paired with it (pair again)`,
        );
      }
      if (trust.busy) {
        return await refuse(
          req.id,
          `Cannot open a session for host '${hostId}': device '${options.device}' is serving another session (one at a time)`,
        );
      }
      trust.busy = holdsSession = true;
      const k = await sessionKeys(key, t);
      link.secure({ send: k.deviceToHost, receive: k.hostToDevice });
      link.limits = { maxHeaderBytes: MAX_HEADER_BYTES, maxFrameBytes: trust.maxFrameBytes };
      hs = { step: "session", hostId };
      clearTimeout(timer);
      log(`session opened for host '${hostId}'`);
      reply(req.id, async () => {
        if (!started) await executor.start(lanes);
        started = true;
        const memory = await executor.memory();
        return {
          fields: {
            type: "hello",
            version: PROTOCOL_VERSION,
            device: options.device,
            deviceId,
            backend: options.backend,
            lanes,
            memory,
            maxFrameBytes: trust.maxFrameBytes,
          },
        };
      });
      return;
    }
    if (req.type === "pair" && hs.step === "new") {
      const bad = versionError(req);
      if (bad) return await refuse(req.id, bad);
      const pairing = trust.pairing;
      if (!pairing) {
        return await refuse(
          req.id,
          `Cannot pair host '${req.hostId}': device '${options.device}' does not pair`,
        );
      }
      if (pairing.busy) {
        return await refuse(req.id, `Cannot pair host '${req.hostId}': another host is pairing`);
      }
      try {
        pairing.begin();
      } catch (e) {
        return await refuse(req.id, (e as Error).message);
      }
      pairing.busy = holdsPairing = true;
      const { privateKey, publicRaw } = await ecdhKeyPair();
      const t: PairingTranscript = {
        hostId: req.hostId,
        deviceId,
        hostPublic: fromBase64(req.publicKey, 65),
        devicePublic: publicRaw,
        salt: randomBytes(NONCE_BYTES),
        iterations: pairing.iterations,
      };
      hs = { step: "pairing", client: req.client, privateKey, hostPublic: t.hostPublic, t };
      await link.send({
        type: "pair-challenge",
        id: req.id,
        deviceId,
        device: options.device,
        publicKey: toBase64(publicRaw),
        salt: toBase64(t.salt),
        iterations: t.iterations,
      });
      return;
    }
    if (req.type === "pair-confirm" && hs.step === "pairing") {
      const pairing = trust.pairing!;
      const { t, client } = hs;
      let code: string;
      try {
        code = pairing.current();
      } catch (e) {
        return await refuse(req.id, (e as Error).message);
      }
      const key = await pairingKey(await ecdhSecret(hs.privateKey, hs.hostPublic), code, t);
      if (!(await hmacVerify(key, fromBase64(req.proof, 32), pairingProofData("host", t)))) {
        const left = pairing.fail();
        return await refuse(
          req.id,
          `Cannot pair host '${t.hostId}': the code does not match (` +
            (left > 0
              ? `'${left}' tries left)`
              : `pairing is now closed after '${pairing.maxTries}' wrong codes)`),
        );
      }
      pairing.succeed();
      await trust.keys.set(t.hostId, client, key); // re-pairing replaces the key
      hs = { step: "paired" };
      log(`paired host '${t.hostId}' ('${client}')`);
      await link.send({ type: "paired", id: req.id, proof: toBase64(await pairingProof(key, "device", t)) });
      return;
    }
    const expected = hs.step === "challenged"
      ? "'auth'"
      : hs.step === "pairing"
      ? "'pair-confirm'"
      : hs.step === "paired"
      ? "nothing (pairing is done)"
      : "'hello' or 'pair'";
    await refuse(req.id, `Cannot ${req.type}: this connection is not authenticated (expected ${expected})`);
  };

  const serve = (req: Request, tensors: TensorMap) => {
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
    if (req.type === "unload") {
      return reply(req.id, async () => {
        const h = handleOf(req.block, "unload");
        handles.delete(req.block);
        await enqueue(h.lane, async () => executor.unload(await h.loaded));
        return {};
      });
    }
    return reply(
      req.id,
      () => Promise.reject(new ProtocolError(`Cannot ${req.type}: the session is already open`)),
    );
  };

  const link = new FrameConnection(conn, {
    onFrame: async (frame: ReceivedFrame) => {
      if (hs.step === "session" && !frame.authenticated) {
        throw new ProtocolError("Cannot accept frame: it has no MAC, and this session is authenticated");
      }
      let parsed: ReturnType<typeof parseRequest>;
      try {
        parsed = parseRequest(frame);
      } catch (e) {
        if (hs.step !== "session") return await refuse(frame.header.id, (e as Error).message);
        link.send({ type: "error", id: frame.header.id, message: (e as Error).message }).catch(() => {});
        return;
      }
      if (hs.step !== "session") {
        try {
          return await handshake(parsed.request);
        } catch (e) {
          return await refuse(frame.header.id, `Cannot ${parsed.request.type}: ${(e as Error).message}`);
        }
      }
      serve(parsed.request, parsed.tensors);
    },
    onClose: (error) => {
      if (error) log(error.message);
    },
  }, { maxHeaderBytes: HANDSHAKE_MAX_FRAME_BYTES, maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES });
  const timer = setTimeout(() => {
    if (hs.step === "session") return;
    log(`Cannot finish the handshake: no session after '${options.handshakeMs ?? 30_000}' ms; closing`);
    link.close();
  }, options.handshakeMs ?? 30_000);
  try {
    await link.done;
  } finally {
    clearTimeout(timer);
    if (holdsPairing) trust.pairing!.busy = false;
    await Promise.allSettled([...queues.values()]);
    await Promise.allSettled([...handles.values()].map(async (h) => executor.unload(await h.loaded)));
    await executor.close();
    if (holdsSession) trust.busy = false;
  }
}
