/**
 * What a device trusts, shared by all its connections: the hosts it paired with (a {@link KeyStore}),
 * its pairing window (a 6-digit code shown on the device, single use, valid for `ttlMs` after it is
 * shown, and closed after `maxTries` wrong codes), the frame limit it announces, and the rule of one
 * session at a time.
 *
 * @module
 */
import type { Bundle } from "../runtime/core/manifest.ts";
import { pairingCode, PBKDF2_ITERATIONS } from "./crypto.ts";
import type { KeyStore } from "./keys.ts";
import { ProtocolError } from "./protocol.ts";

/** How a device pairs. */
export interface PairingOptions {
  /** A fixed code (single use: pairing closes once it is used); default: a fresh random code per request. */
  code?: string;
  /** Shows the code to the person holding the device (the app's screen; the loopback device's stdout). */
  showCode(code: string): void;
  /** How long a shown code is valid, ms; default 120000. */
  ttlMs?: number;
  /** Wrong codes before pairing closes (until the device restarts pairing); default 3. */
  maxTries?: number;
  /** PBKDF2-SHA256 iterations the device asks for; default {@link PBKDF2_ITERATIONS} (600000). */
  iterations?: number;
}

/**
 * A device's pairing window.
 *
 * @example
 * ```ts
 * import { PairingWindow } from "./device_trust.ts";
 * let shown = "";
 * const w = new PairingWindow({ showCode: (c) => (shown = c) });
 * const { code } = w.begin();
 * console.assert(code === shown && /^\d{6}$/.test(code));
 * ```
 */
export class PairingWindow {
  readonly ttlMs: number;
  readonly maxTries: number;
  readonly iterations: number;
  #options: PairingOptions;
  #code: { value: string; shownAt: number } | null = null;
  #wrong = 0;
  #closed: string | null = null;
  /** A pairing exchange is in progress (one at a time). */
  busy = false;

  constructor(options: PairingOptions) {
    if (options.code !== undefined && !/^\d{6}$/.test(options.code)) {
      throw new ProtocolError(`Cannot open pairing: code '${options.code}' is not 6 digits`);
    }
    this.#options = options;
    this.ttlMs = options.ttlMs ?? 120_000;
    this.maxTries = options.maxTries ?? 3;
    this.iterations = options.iterations ?? PBKDF2_ITERATIONS;
  }

  /** Why pairing is closed, or null while it is open. */
  get closedReason(): string | null {
    return this.#closed;
  }

  /** Wrong codes so far. */
  get wrongTries(): number {
    return this.#wrong;
  }

  /** A host asks to pair: the code to check against (shown now if it was not already). */
  begin(now = Date.now()): { code: string } {
    if (this.#closed) {
      throw new ProtocolError(`Cannot pair: pairing is closed on this device (${this.#closed})`);
    }
    if (this.#code && now - this.#code.shownAt > this.ttlMs) this.#expire();
    if (!this.#code) {
      const value = this.#options.code ?? pairingCode();
      this.#code = { value, shownAt: now };
      this.#options.showCode(value);
    }
    return { code: this.#code.value };
  }

  /** The code still valid at `now` (throws when it expired meanwhile). */
  current(now = Date.now()): string {
    if (this.#closed) {
      throw new ProtocolError(`Cannot pair: pairing is closed on this device (${this.#closed})`);
    }
    if (!this.#code || now - this.#code.shownAt > this.ttlMs) {
      this.#expire();
      throw new ProtocolError(
        `Cannot pair: the code expired ('${this.ttlMs}' ms after it was shown); ask again`,
      );
    }
    return this.#code.value;
  }

  #expire(): void {
    this.#code = null;
    if (this.#options.code !== undefined) this.#closed = "its fixed code expired";
  }

  /** A wrong code: returns the tries left (0: pairing is now closed and the code is void). */
  fail(): number {
    this.#wrong++;
    const left = this.maxTries - this.#wrong;
    if (left <= 0) {
      this.#code = null;
      this.#closed = `'${this.maxTries}' wrong codes`;
    }
    return Math.max(0, left);
  }

  /** The code was right: it is used up (a fixed code closes pairing; otherwise the next request shows a new one). */
  succeed(): void {
    this.#code = null;
    if (this.#options.code !== undefined) this.#closed = "its single-use code was used";
  }
}

/** Default largest frame (header + payload) a device accepts: 512 MiB. */
export const DEFAULT_MAX_FRAME_BYTES: number = 512 * 2 ** 20;
/** Largest frame before a session is authenticated: handshake frames carry no tensors. */
export const HANDSHAKE_MAX_FRAME_BYTES: number = 64 * 1024;

/** A device's trust state, shared by its connections. */
export interface DeviceTrust {
  /** Paired hosts by host id; the store's own id is the device id. */
  keys: KeyStore;
  /** The pairing window, or null when the device does not pair. */
  pairing: PairingWindow | null;
  /** Largest header + payload accepted on a session (announced in `hello`). */
  maxFrameBytes: number;
  /** Whether a session is open (one at a time). */
  busy: boolean;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int64: 8, uint8: 1, bool: 1 };

/**
 * The frame limit for a bundle at the largest dims a device serves: the largest `run` frame any block
 * takes (all its inputs, each 8-aligned) plus `marginBytes` (the JSON header; default 64 KiB). A dim is
 * looked up as `stage.name` first, then `name` (the `--dims` syntax of `coreml_export.py`, whose packages
 * are built for the same sizes). Throws ProtocolError naming a dim that is not given.
 *
 * @example
 * ```ts ignore
 * frameLimitFor(await loadBundle("models/default"), { B: 2, T: 5, H: 8, W: 8, Hp: 4, Wp: 4, Tm: 5, L: 300, "vae.N": 2 });
 * ```
 */
export function frameLimitFor(
  bundle: Bundle,
  dims: Record<string, number>,
  marginBytes = 64 * 1024,
): number {
  let largest = 0;
  for (const stage of ["text", "denoiser", "vae"] as const) {
    const s = bundle[stage];
    if (!s) continue;
    for (const block of s.blocks) {
      let bytes = 0;
      for (const io of block.inputs) {
        const n = io.dims.reduce<number>((acc, d) => {
          const v = typeof d === "number" ? d : dims[`${stage}.${d}`] ?? dims[d];
          if (v === undefined) {
            throw new ProtocolError(
              `Cannot size the frame limit: dim '${d}' of input '${io.name}' of block '${stage}/${block.name}' is not given`,
            );
          }
          return acc * v;
        }, 1);
        bytes += Math.ceil((n * (DTYPE_BYTES[io.dtype] ?? 8)) / 8) * 8;
      }
      largest = Math.max(largest, bytes);
    }
  }
  return largest + marginBytes;
}

/** Parse `B=2,T=5,vae.N=2` into dims (positive integers). */
export function parseDims(text: string): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z_][\w.]*)=(\d+)$/.exec(part);
    if (!m || Number(m[2]) < 1) {
      throw new ProtocolError(`Cannot parse dims '${text}': '${part}' is not NAME=positive integer`);
    }
    dims[m[1]] = Number(m[2]);
  }
  return dims;
}
