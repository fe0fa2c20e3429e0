/**
 * Test support: a paired host that breaks the protocol the way an attacker on the network would, using the
 * real host code (DeviceLink) and altering only the bytes on the wire. `--attack replay` resends a frame
 * the device already accepted; `tamper` flips one payload byte of a MAC'd frame in flight; `oversize`
 * sends a prelude that claims a 1 TiB frame. It prints the refusal as one line on stderr and exits 1
 * (exit 0 would mean the device accepted the attack).
 *
 *   deno run -A ios-bridge/_attack_host.ts --attack replay --port 9777 --keys FILE
 *
 * @module
 */
import { parseArgs } from "node:util";
import { oneLine } from "../runtime/cli/cli.ts";
import { DeviceLink } from "./device_link.ts";
import { KeyStore } from "./keys.ts";
import { FLAG_MAC, MAGIC, PRELUDE_BYTES, PROTOCOL_VERSION } from "./protocol.ts";

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      attack: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      keys: { type: "string" },
    },
  });
  const keys = await KeyStore.open(values.keys!, "host");
  const link = await DeviceLink.open(values.host!, Number(values.port), { timeoutMs: 30_000, keys });
  const conn = link.connection;
  const x = { x: { dtype: "float32" as const, dims: [8], data: new Float32Array(8).fill(1) } };
  if (values.attack === "replay") {
    let recorded: Uint8Array | null = null;
    conn.tap = (frame) => (recorded ??= frame.slice(), frame);
    await link.request({ type: "memory" }, {}, "read memory", null); // accepted: counter 0
    conn.tap = null;
    await conn.sendRaw(recorded!); // the same bytes again
  } else if (values.attack === "tamper") {
    conn.tap = (frame) => {
      const headerBytes = new DataView(frame.buffer, frame.byteOffset).getUint32(8, true);
      frame[PRELUDE_BYTES + headerBytes + 5] ^= 0x01; // one bit of the payload
      return frame;
    };
  } else if (values.attack === "oversize") {
    const prelude = new Uint8Array(PRELUDE_BYTES);
    const view = new DataView(prelude.buffer);
    prelude.set(MAGIC);
    view.setUint16(4, PROTOCOL_VERSION, true);
    view.setUint16(6, FLAG_MAC, true);
    view.setUint32(8, 64, true);
    view.setBigUint64(16, 2n ** 40n, true); // "a 1 TiB payload follows"
    await conn.sendRaw(prelude);
  } else {
    throw new Error(`Cannot attack: '--attack ${values.attack}' is not replay, tamper or oversize`);
  }
  // the next request: answered only if the device accepted what came before
  await link.request({ type: "memory" }, values.attack === "tamper" ? x : {}, "read memory", null);
  await link.drainAndClose();
  console.log("the device accepted the attack");
  return 0;
}

if (import.meta.main) {
  main(Deno.args).then(Deno.exit, (e) => {
    console.error(`odsora: error: ${oneLine(e)}`);
    Deno.exit(1);
  });
}
