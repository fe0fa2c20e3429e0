/**
 * Pair this host with a device: the device shows a 6-digit code, the person types it here, and both
 * sides derive the same long-term key from an ephemeral P-256 ECDH exchange and the code
 * (HKDF(ECDH secret, salt = PBKDF2-SHA256(code, device salt, iterations))). The host proves it first; the
 * device stores the key only for a right code, then proves it too; the host stores the key under the
 * user's config dir (mode 0600). Pairing again replaces the key.
 *
 *   deno run -A ios-bridge/pair.ts --pair --host 192.168.1.20 --port 9777 [--code 123456]
 *   deno run -A ios-bridge/pair.ts --list
 *   deno run -A ios-bridge/pair.ts --forget DEVICE_ID
 *
 * @module
 */
import { parseArgs } from "node:util";
import { OdsoraError } from "../runtime/core/errors.ts";
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
  PBKDF2_ITERATIONS,
  toBase64,
} from "./crypto.ts";
import { connectWithin } from "./device_link.ts";
import { defaultHostKeyFile, KeyStore } from "./keys.ts";
import { parseReply, type Reply } from "./messages.ts";
import { type FrameHeader, PROTOCOL_VERSION } from "./protocol.ts";

/** Pairing failed (refused by the device, wrong code, too weak a KDF, lost connection). */
export class PairingError extends OdsoraError {}

/** Options of {@link pairWithDevice}. */
export interface PairOptions {
  host: string;
  port: number;
  /** The 6 digits the device shows, or a function asked once the device shows them (it does when asked). */
  code: string | ((device: string) => string | Promise<string>);
  /** Where the host keeps its keys. */
  keys: KeyStore;
  /** Fewest PBKDF2 iterations this host accepts from a device; default 600000 (lower only in tests). */
  minIterations?: number;
  /** Most ms to wait for each answer; default 10000 (+ the KDF). */
  timeoutMs?: number;
}

/** The device the host paired with. */
export interface Paired {
  deviceId: string;
  device: string;
}

/**
 * Pair with the device at `host:port` using the code it shows; stores the key in `keys`.
 *
 * @example
 * ```ts ignore
 * const keys = await KeyStore.open(defaultHostKeyFile(), "host");
 * const { device } = await pairWithDevice({ host: "127.0.0.1", port: 9777, code: "123456", keys });
 * ```
 */
export async function pairWithDevice(options: PairOptions): Promise<Paired> {
  const address = `${options.host}:${options.port}`;
  const action = `pair with the iOS device at '${address}'`;
  const fail = (why: string, cause?: unknown) => new PairingError(`Cannot ${action}: ${why}`, { cause });
  const check = (code: string) => {
    if (!/^\d{6}$/.test(code)) throw fail(`the code '${code}' is not the 6 digits the device shows`);
    return code;
  };
  if (typeof options.code === "string") check(options.code);
  const timeoutMs = options.timeoutMs ?? 10_000;
  let tcp: Deno.Conn;
  try {
    tcp = await connectWithin(options.host, options.port, timeoutMs);
  } catch (e) {
    throw fail((e as Error).message, e);
  }
  const waiting = new Map<number, (r: Reply) => void>();
  let closed: (why: string) => void = () => {};
  const lost = new Promise<never>((_, reject) => (closed = (why) => reject(fail(why))));
  lost.catch(() => {});
  const conn = new FrameConnection(tcp, {
    onFrame: (frame) => {
      const { reply } = parseReply(frame);
      waiting.get(reply.id)?.(reply);
    },
    onClose: (error) => closed(error ? error.message : "the device closed the connection"),
  });
  let nextId = 1;
  const ask = async (header: Omit<FrameHeader, "id" | "tensors">, ms: number): Promise<Reply> => {
    const id = nextId++;
    const answer = new Promise<Reply>((resolve) => waiting.set(id, resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(fail(`no answer to '${header.type}' within '${ms}' ms`)), ms);
    });
    try {
      await conn.send({ ...header, id });
      const r = await Promise.race([answer, lost, late]);
      if (r.type === "error") throw fail(r.message);
      return r;
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    const { privateKey, publicRaw } = await ecdhKeyPair();
    const c = await ask({
      type: "pair",
      version: PROTOCOL_VERSION,
      client: "odsora",
      hostId: options.keys.id,
      publicKey: toBase64(publicRaw),
    }, timeoutMs);
    if (c.type !== "pair-challenge") throw fail(`it answered 'pair' with '${c.type}'`);
    const min = options.minIterations ?? PBKDF2_ITERATIONS;
    if (c.iterations < min) {
      throw fail(`it asks for '${c.iterations}' PBKDF2 iterations, fewer than this host accepts ('${min}')`);
    }
    const t: PairingTranscript = {
      hostId: options.keys.id,
      deviceId: c.deviceId,
      hostPublic: publicRaw,
      devicePublic: fromBase64(c.publicKey, 65),
      salt: fromBase64(c.salt, NONCE_BYTES),
      iterations: c.iterations,
    };
    const code = check(typeof options.code === "string" ? options.code : await options.code(c.device));
    const key = await pairingKey(await ecdhSecret(privateKey, t.devicePublic), code, t);
    const done = await ask(
      { type: "pair-confirm", proof: toBase64(await pairingProof(key, "host", t)) },
      timeoutMs + 60_000, // the device runs the same KDF
    );
    if (done.type !== "paired") throw fail(`it answered 'pair-confirm' with '${done.type}'`);
    if (!(await hmacVerify(key, fromBase64(done.proof, 32), pairingProofData("device", t)))) {
      throw fail("its proof does not match (not the device that showed this code); nothing was stored");
    }
    await options.keys.set(c.deviceId, c.device, key);
    return { deviceId: c.deviceId, device: c.device };
  } finally {
    conn.close();
    await conn.done;
  }
}

const USAGE = `usage:
  deno run -A ios-bridge/pair.ts --pair --host HOST --port PORT [--code 123456] [--keys FILE]
  deno run -A ios-bridge/pair.ts --list [--keys FILE]
  deno run -A ios-bridge/pair.ts --forget DEVICE_ID [--keys FILE]`;

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      pair: { type: "boolean" },
      list: { type: "boolean" },
      forget: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "9777" },
      code: { type: "string" },
      keys: { type: "string" },
    },
  });
  const keys = await KeyStore.open(values.keys ?? defaultHostKeyFile(), "host");
  if (values.list) {
    for (const [id, e] of Object.entries(keys.peers)) console.log(`${id}  ${e.name}  paired ${e.pairedAt}`);
    return;
  }
  if (values.forget) {
    if (!(await keys.forget(values.forget))) {
      throw new PairingError(`Cannot forget device '${values.forget}': this host has not paired with it`);
    }
    console.log(`forgot device '${values.forget}'`);
    return;
  }
  if (!values.pair) throw new PairingError(`Cannot pair: say --pair, --list or --forget\n${USAGE}`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PairingError(`Cannot pair: --port '${values.port}' is not a port number`);
  }
  const code = values.code ??
    ((device: string) => prompt(`Type the code device '${device}' shows:`)?.trim() ?? "");
  const paired = await pairWithDevice({ host: values.host!, port, code, keys });
  console.log(
    `paired with device '${paired.device}' (id '${paired.deviceId}'); key stored in '${keys.path}'`,
  );
}

if (import.meta.main) {
  main(Deno.args).catch((e) => {
    console.error((e as Error).message.split("\n")[0]);
    Deno.exit(1);
  });
}
