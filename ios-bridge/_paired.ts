/**
 * Test support: a loopback device and a host key file that really paired (the pairing exchange of
 * `pair.ts`, with the code the device showed), with a small PBKDF2 iteration count that the device
 * announces and the host is told to accept. Production uses 600000 on both sides (`crypto_test.ts`
 * checks the defaults).
 *
 * @module
 */
import { join } from "node:path";
import { KeyStore } from "./keys.ts";
import { type LoopbackDevice, type LoopbackOptions, startLoopbackDevice } from "./loopback_device.ts";
import { pairWithDevice } from "./pair.ts";

/** PBKDF2 iterations in tests only (the strong default would cost seconds per pairing here). */
export const TEST_ITERATIONS = 1000;

/** A paired loopback device and the host's key file. */
export interface PairedDevice {
  device: LoopbackDevice;
  /** The host's key file (mode 0600), to give the `ios` executor as `keys`. */
  keysFile: string;
  hostKeys: KeyStore;
  /** The device's log lines. */
  log: string[];
  /** Codes the device showed, in order. */
  shown: string[];
  /** Wait until the device's session slot is free (a closed session releases its blocks first). */
  idle(): Promise<void>;
  /** Pair another key file with this device (as another host would). */
  pairAnother(keysFile: string): Promise<KeyStore>;
  close(): Promise<void>;
}

/** Start a loopback device that pairs, and pair a fresh host key file with it. */
export async function pairedLoopback(options: LoopbackOptions): Promise<PairedDevice> {
  const tmp = await Deno.makeTempDir({ prefix: "odsora-paired-" });
  const log: string[] = [];
  const shown: string[] = [];
  const device = startLoopbackDevice({
    port: 0,
    log: (line) => log.push(line),
    ...options,
    pairing: {
      iterations: TEST_ITERATIONS,
      ...options.pairing,
      showCode: (c) => (shown.push(c), options.pairing?.showCode(c)),
    },
  });
  const pairAnother = async (keysFile: string) => {
    const keys = await KeyStore.open(keysFile, "host");
    await pairWithDevice({
      host: device.hostname,
      port: device.port,
      code: () => shown.at(-1)!, // the person reads the code off the device
      keys,
      minIterations: TEST_ITERATIONS,
    });
    return keys;
  };
  const keysFile = join(tmp, "config", "ios-bridge", "keys.json");
  const hostKeys = await pairAnother(keysFile);
  return {
    device,
    keysFile,
    hostKeys,
    log,
    shown,
    pairAnother,
    async idle() {
      for (let i = 0; i < 600 && device.trust.busy; i++) await new Promise((r) => setTimeout(r, 50));
      if (device.trust.busy) throw new Error("the device's session did not end within 30 s");
    },
    async close() {
      await device.close();
      await Deno.remove(tmp, { recursive: true });
    },
  };
}
