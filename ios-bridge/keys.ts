/**
 * Where paired keys live. The host keeps one file under the user's config dir
 * (`$ODSORA_CONFIG_DIR`, else `$XDG_CONFIG_HOME/odsora`, else `~/.config/odsora`; file
 * `ios-bridge/keys.json`, mode 0600 in a 0700 folder): its own random host id and one long-term key per
 * paired device id. The loopback device keeps the same kind of file for its paired hosts (or only in
 * memory); the iPhone app keeps them in the Keychain (`swift/PairingStore.swift`). Re-pairing replaces
 * a key; either side can forget the other. Files are written whole (temporary file, then rename), so a
 * crash never leaves half a key file.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { OdsoraError } from "../runtime/core/errors.ts";
import { fromBase64, randomBytes, toBase64 } from "./crypto.ts";

/** A key file cannot be read or written. */
export class KeyStoreError extends OdsoraError {}

/** The host's config folder for odsora (not created here). */
export function configDir(): string {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const explicit = env("ODSORA_CONFIG_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CONFIG_HOME") ?? (env("HOME") ? join(env("HOME")!, ".config") : undefined);
  if (!xdg) {
    throw new KeyStoreError(
      "Cannot locate the config folder: none of ODSORA_CONFIG_DIR, XDG_CONFIG_HOME, HOME is set",
    );
  }
  return join(xdg, "odsora");
}

/** The host's default key file. */
export function defaultHostKeyFile(): string {
  return join(configDir(), "ios-bridge", "keys.json");
}

/** One paired peer: its name as it gave it, the key (base64) and when it was paired. */
export interface PeerEntry {
  name: string;
  key: string;
  pairedAt: string;
}

interface KeyFileData {
  /** This side's own id (host id or device id), random, kept across runs. */
  id: string;
  peers: Record<string, PeerEntry>;
}

/** A random id for a host or a device (128 bits, hex). */
export function newId(prefix: string): string {
  return `${prefix}-${[...randomBytes(16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Paired keys of one side, in a 0600 file (or only in memory when `path` is null).
 *
 * @example
 * ```ts
 * import { KeyStore } from "./keys.ts";
 * const store = await KeyStore.open(null, "host");
 * await store.set("device-1", "phone", new Uint8Array(32));
 * console.assert(store.key("device-1")?.length === 32);
 * ```
 */
export class KeyStore {
  readonly path: string | null;
  #data: KeyFileData;

  private constructor(path: string | null, data: KeyFileData) {
    this.path = path;
    this.#data = data;
  }

  /** A store only in memory (a device that forgets its hosts when it stops). */
  static memory(role: "host" | "device"): KeyStore {
    return new KeyStore(null, { id: newId(role), peers: {} });
  }

  /** Read the file (a missing file is an empty store with a new id, written at the first change). */
  static async open(path: string | null, role: "host" | "device"): Promise<KeyStore> {
    if (path === null) return new KeyStore(null, { id: newId(role), peers: {} });
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return new KeyStore(path, { id: newId(role), peers: {} });
      throw new KeyStoreError(`Cannot read key file '${path}': ${(e as Error).message}`, { cause: e });
    }
    let data: KeyFileData;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new KeyStoreError(`Cannot read key file '${path}': it is not JSON`, { cause: e });
    }
    if (typeof data?.id !== "string" || typeof data.peers !== "object" || data.peers === null) {
      throw new KeyStoreError(`Cannot read key file '${path}': it has no 'id' and 'peers'`);
    }
    return new KeyStore(path, data);
  }

  /** This side's id. */
  get id(): string {
    return this.#data.id;
  }

  /** The paired peers, by id. */
  get peers(): Readonly<Record<string, PeerEntry>> {
    return this.#data.peers;
  }

  /** The long-term key paired with `peerId`, or null. */
  key(peerId: string): Uint8Array<ArrayBuffer> | null {
    const e = this.#data.peers[peerId];
    return e ? fromBase64(e.key, 32) : null;
  }

  /** Store (or replace: re-pairing) the key of `peerId`, and save. */
  async set(peerId: string, name: string, key: Uint8Array): Promise<void> {
    this.#data.peers[peerId] = { name, key: toBase64(key), pairedAt: new Date().toISOString() };
    await this.#save();
  }

  /** Forget `peerId` (its sessions are refused from now on); false if it was not paired. */
  async forget(peerId: string): Promise<boolean> {
    if (!(peerId in this.#data.peers)) return false;
    delete this.#data.peers[peerId];
    await this.#save();
    return true;
  }

  async #save(): Promise<void> {
    if (this.path === null) return;
    const tmp = `${this.path}.${newId("tmp")}`;
    try {
      await Deno.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(tmp, JSON.stringify(this.#data, null, 2) + "\n", { mode: 0o600 });
      await Deno.chmod(tmp, 0o600); // mode applies only when the file is created; be explicit
      await Deno.rename(tmp, this.path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw new KeyStoreError(`Cannot write key file '${this.path}': ${(e as Error).message}`, { cause: e });
    }
  }
}
