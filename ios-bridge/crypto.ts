/**
 * The bridge's cryptography, all from WebCrypto (`crypto.subtle`): P-256 ECDH and PBKDF2-SHA256 +
 * HKDF-SHA256 for pairing, HMAC-SHA256 for the session challenge–response and every frame's MAC, HKDF for
 * the per-direction session keys. Nothing here is a home-made primitive; this file only fixes which
 * bytes go in (ios-bridge/PROTOCOL.md, "Pairing" and "Sessions"). The Swift side does the same with
 * CryptoKit (`swift/BridgeCrypto.swift`).
 *
 * @module
 */

const subtle = crypto.subtle;
const te = new TextEncoder();

/** PBKDF2-SHA256 iterations a device asks for by default, and the least a host accepts by default. */
export const PBKDF2_ITERATIONS = 600_000;
/** Bytes of a device's pairing salt and of each session nonce. */
export const NONCE_BYTES = 32;

/** `n` random bytes from the system's CSPRNG. */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** A 6-digit pairing code, uniform over 000000..999999 (rejection sampling, no modulo bias). */
export function pairingCode(): string {
  const limit = Math.floor(2 ** 32 / 1e6) * 1e6;
  for (;;) {
    const v = new DataView(randomBytes(4).buffer).getUint32(0);
    if (v < limit) return String(v % 1e6).padStart(6, "0");
  }
}

/** Base64 of bytes (the JSON headers carry keys, salts, nonces and proofs this way). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Bytes of a base64 string; throws on malformed input or when `length` is given and differs. */
export function fromBase64(text: string, length?: number): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (length !== undefined && out.length !== length) {
    throw new Error(`expected '${length}' bytes, got '${out.length}'`);
  }
  return out;
}

/**
 * Bytes that name each part unambiguously: a 4-byte big-endian length before each part (strings as UTF-8,
 * numbers as 4-byte big-endian unsigned integers).
 *
 * @example
 * ```ts
 * import { transcript } from "./crypto.ts";
 * console.assert(transcript("a", "bc").length !== 0 && transcript("ab", "c").join() !== transcript("a", "bc").join());
 * ```
 */
export function transcript(...parts: (string | Uint8Array | number)[]): Uint8Array<ArrayBuffer> {
  const u32 = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  };
  const bytes = parts.map((p) => typeof p === "string" ? te.encode(p) : typeof p === "number" ? u32(p) : p);
  const out = new Uint8Array(bytes.reduce((n, b) => n + 4 + b.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const b of bytes) {
    view.setUint32(at, b.length);
    out.set(b, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** An ephemeral P-256 ECDH key pair and its public key as raw (65-byte uncompressed) bytes. */
export async function ecdhKeyPair(): Promise<{ privateKey: CryptoKey; publicRaw: Uint8Array<ArrayBuffer> }> {
  const pair = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  const publicRaw = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicRaw };
}

/** The 32-byte ECDH shared secret of our private key and the peer's raw public key. */
export async function ecdhSecret(
  privateKey: CryptoKey,
  peerRaw: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const peer = await subtle.importKey("raw", peerRaw, { name: "ECDH", namedCurve: "P-256" }, false, []);
  return new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: peer }, privateKey, 256));
}

/** PBKDF2-SHA256 of the pairing code over the device's salt: 32 bytes. */
export async function stretchCode(
  code: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const base = await subtle.importKey("raw", te.encode(code), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(
    await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, 256),
  );
}

/** HKDF-SHA256: 32 bytes from `ikm`, `salt` and `info`. */
export async function hkdf(
  ikm: Uint8Array<ArrayBuffer>,
  salt: Uint8Array<ArrayBuffer>,
  info: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const base = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, base, 256));
}

/** An HMAC-SHA256 key for signing and verifying. */
export function hmacKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** HMAC-SHA256 of `data` (32 bytes). */
export async function hmac(
  key: CryptoKey | Uint8Array<ArrayBuffer>,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const k = key instanceof Uint8Array ? await hmacKey(key) : key;
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}

/** Whether `mac` is the HMAC-SHA256 of `data` (WebCrypto's verify, which compares in constant time). */
export async function hmacVerify(
  key: CryptoKey | Uint8Array<ArrayBuffer>,
  mac: Uint8Array<ArrayBuffer>,
  data: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const k = key instanceof Uint8Array ? await hmacKey(key) : key;
  return await subtle.verify("HMAC", k, mac, data);
}

/** The public values of one pairing exchange (everything a recording of it holds, but the proofs). */
export interface PairingTranscript {
  hostId: string;
  deviceId: string;
  hostPublic: Uint8Array<ArrayBuffer>;
  devicePublic: Uint8Array<ArrayBuffer>;
  salt: Uint8Array<ArrayBuffer>;
  iterations: number;
}

/**
 * The long-term key of a pairing: HKDF(ECDH secret, salt = PBKDF2(code, device salt, iterations),
 * info = the exchange's public values). Without one side's ECDH private key no one can compute it, with
 * any code: a recording of the exchange does not let anyone test code guesses offline.
 */
export async function pairingKey(
  ecdh: Uint8Array<ArrayBuffer>,
  code: string,
  t: PairingTranscript,
): Promise<Uint8Array<ArrayBuffer>> {
  const stretched = await stretchCode(code, t.salt, t.iterations);
  return await hkdf(ecdh, stretched, pairingInfo(t));
}

function pairingInfo(t: PairingTranscript): Uint8Array<ArrayBuffer> {
  return transcript(
    "odsora-bridge v2 pairing",
    t.hostId,
    t.deviceId,
    t.hostPublic,
    t.devicePublic,
    t.salt,
    t.iterations,
  );
}

/** The bytes a side's pairing proof is the HMAC of. */
export function pairingProofData(side: "host" | "device", t: PairingTranscript): Uint8Array<ArrayBuffer> {
  return transcript(`pairing proof ${side}`, pairingInfo(t));
}

/** A side's key confirmation of a pairing: HMAC(long-term key, side label + the exchange's values). */
export function pairingProof(
  key: Uint8Array<ArrayBuffer>,
  side: "host" | "device",
  t: PairingTranscript,
): Promise<Uint8Array<ArrayBuffer>> {
  return hmac(key, pairingProofData(side, t));
}

/** The values both sides of a session greeting know. */
export interface SessionTranscript {
  hostId: string;
  deviceId: string;
  hostNonce: Uint8Array<ArrayBuffer>;
  deviceNonce: Uint8Array<ArrayBuffer>;
}

function sessionInfo(t: SessionTranscript): Uint8Array<ArrayBuffer> {
  return transcript("odsora-bridge v2 session", t.hostId, t.deviceId, t.hostNonce, t.deviceNonce);
}

/** The bytes the host's session proof is the HMAC of. */
export function sessionProofData(t: SessionTranscript): Uint8Array<ArrayBuffer> {
  return transcript("session proof host", sessionInfo(t));
}

/** The host's answer to the device's challenge: HMAC-SHA256(paired key, both nonces and both ids). */
export function sessionProof(
  key: Uint8Array<ArrayBuffer>,
  t: SessionTranscript,
): Promise<Uint8Array<ArrayBuffer>> {
  return hmac(key, sessionProofData(t));
}

/** The session's frame MAC keys, one per direction: HKDF(paired key, both nonces, direction). */
export async function sessionKeys(
  key: Uint8Array<ArrayBuffer>,
  t: SessionTranscript,
): Promise<{ hostToDevice: CryptoKey; deviceToHost: CryptoKey }> {
  const salt = transcript(t.hostNonce, t.deviceNonce);
  const info = sessionInfo(t);
  const derive = async (dir: string) => hmacKey(await hkdf(key, salt, transcript(dir, info)));
  return { hostToDevice: await derive("host->device"), deviceToHost: await derive("device->host") };
}
