import assert from "node:assert/strict";
import { tinyBundle } from "../tests/_e2e.ts";
import { pairedLoopback, TEST_ITERATIONS } from "./_paired.ts";
import { decodeRaw, FrameReader } from "./frame_reader.ts";
import {
  ecdhKeyPair,
  ecdhSecret,
  fromBase64,
  hmacVerify,
  pairingKey,
  pairingProofData,
  type PairingTranscript,
  PBKDF2_ITERATIONS,
} from "./crypto.ts";
import { DeviceLink } from "./device_link.ts";
import { PairingWindow } from "./device_trust.ts";
import { KeyStore } from "./keys.ts";
import { pairWithDevice } from "./pair.ts";
import type { Frame } from "./protocol.ts";

/** A TCP relay between host and device that records every frame each way (a passive eavesdropper). */
function recorder(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const chunks = { up: [] as Uint8Array[], down: [] as Uint8Array[] };
  const relays: Promise<unknown>[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn, log: Uint8Array[]) => {
    const buf = new Uint8Array(1 << 16);
    try {
      for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
        log.push(buf.slice(0, n));
        await to.write(buf.subarray(0, n));
      }
    } catch { /* closed */ }
    try {
      to.close();
    } catch { /* already */ }
  };
  const accepting = (async () => {
    for await (const a of listener) {
      const b = await Deno.connect({ hostname: "127.0.0.1", port: target });
      relays.push(pipe(a, b, chunks.up), pipe(b, a, chunks.down));
    }
  })().catch(() => {});
  const frames = (log: Uint8Array[]): Frame[] => {
    const reader = new FrameReader();
    const out: Frame[] = [];
    for (const c of log) {
      reader.push(c);
      for (let raw = reader.next(); raw; raw = reader.next()) out.push(decodeRaw(raw));
    }
    return out;
  };
  return {
    port: (listener.addr as Deno.NetAddr).port,
    recorded: () => ({ up: frames(chunks.up), down: frames(chunks.down) }),
    async close() {
      listener.close();
      await accepting;
      await Promise.allSettled(relays);
    },
  };
}

Deno.test("pairing: a recording of the exchange cannot test code guesses, even the right code, without an ECDH private key", async () => {
  const paired = await pairedLoopback({ bundleDir: await tinyBundle() });
  const tap = recorder(paired.device.port);
  try {
    const keys = KeyStore.memory("host");
    await pairWithDevice({
      host: "127.0.0.1",
      port: tap.port,
      code: () => paired.shown.at(-1)!,
      keys,
      minIterations: TEST_ITERATIONS,
    });
    const { up, down } = tap.recorded();
    assert.deepEqual(up.map((f) => f.header.type), ["pair", "pair-confirm"]);
    assert.deepEqual(down.map((f) => f.header.type), ["pair-challenge", "paired"]);
    const [pair, confirm] = up.map((f) => f.header);
    const challenge = down[0].header;
    const t: PairingTranscript = {
      hostId: String(pair.hostId),
      deviceId: String(challenge.deviceId),
      hostPublic: fromBase64(String(pair.publicKey)),
      devicePublic: fromBase64(String(challenge.publicKey)),
      salt: fromBase64(String(challenge.salt)),
      iterations: Number(challenge.iterations),
    };
    const proof = fromBase64(String(confirm.proof));
    const data = pairingProofData("host", t);
    // control: the recorded transcript is complete; the key both sides derived verifies the recorded proof
    const key = keys.key(t.deviceId)!;
    assert.ok(await hmacVerify(key, proof, data));
    // the eavesdropper knows every public value and, here, even the right code; with no private key of
    // either side it can only run ECDH with a key of its own, which gives another secret and no match
    const code = paired.shown.at(-1)!;
    for (const guess of [code, "000000", "123456"]) {
      const mine = await ecdhKeyPair();
      for (const peer of [t.hostPublic, t.devicePublic]) {
        const k = await pairingKey(await ecdhSecret(mine.privateKey, peer), guess, t);
        assert.equal(await hmacVerify(k, proof, data), false, `guess ${guess}`);
      }
    }
    // nothing on the wire is the key, or the ECDH secret (the key is HKDF of it: compare the key itself)
    const wire = [...up, ...down].map((f) => JSON.stringify(f.header)).join("");
    for (const secret of [key]) assert.ok(!wire.includes(btoa(String.fromCharCode(...secret))));
  } finally {
    await tap.close();
    await paired.close();
  }
});

Deno.test("pairing: three wrong codes close pairing on the device; even the right code is refused after", async () => {
  const paired = await pairedLoopback({ bundleDir: await tinyBundle() });
  try {
    const keys = KeyStore.memory("host");
    const attempt = (code: () => string) =>
      pairWithDevice({
        host: "127.0.0.1",
        port: paired.device.port,
        code,
        keys,
        minIterations: TEST_ITERATIONS,
      });
    const wrong = () => (paired.shown.at(-1) === "000000" ? "000001" : "000000");
    const tries: string[] = [];
    for (let i = 0; i < 3; i++) {
      await assert.rejects(attempt(wrong), (e) => (tries.push((e as Error).message), true));
    }
    assert.match(
      tries[0],
      /: Cannot pair host 'host-[0-9a-f]+': the code does not match \('2' tries left\)$/,
    );
    assert.match(tries[1], /\('1' tries left\)$/);
    assert.match(tries[2], /pairing is now closed after '3' wrong codes\)$/);
    await assert.rejects(
      attempt(() => paired.shown.at(-1)!),
      /Cannot pair: pairing is closed on this device \('3' wrong codes\)$/,
    );
    assert.equal(Object.keys(keys.peers).length, 0, "the host stored nothing");
    // only the first host (paired by pairedLoopback) is known to the device
    assert.deepEqual(Object.keys(paired.device.trust.keys.peers), [paired.hostKeys.id]);
  } finally {
    await paired.close();
  }
});

Deno.test("pairing: a code is single use and expires; re-pairing replaces the key; a forgotten host is refused", async () => {
  const paired = await pairedLoopback({
    bundleDir: await tinyBundle(),
    pairing: { ttlMs: 2000, showCode() {} },
  });
  try {
    const { device, hostKeys } = paired;
    const first = hostKeys.key(device.trust.keys.id)!;
    const late = pairWithDevice({
      host: "127.0.0.1",
      port: device.port,
      code: async () => (await new Promise((r) => setTimeout(r, 2200)), paired.shown.at(-1)!),
      keys: hostKeys,
      minIterations: TEST_ITERATIONS,
    });
    await assert.rejects(late, /Cannot pair: the code expired \('2000' ms after it was shown\); ask again$/);
    // a new request shows a new code: re-pairing works and replaces the key on both sides
    const shownBefore = paired.shown.length;
    await paired.pairAnother(paired.keysFile);
    assert.equal(paired.shown.length, shownBefore + 1, "each pairing request showed its own code");
    const reopened = await KeyStore.open(paired.keysFile, "host");
    const second = reopened.key(device.trust.keys.id)!;
    assert.notDeepEqual(second, first);
    assert.deepEqual(device.trust.keys.key(hostKeys.id), second);
    const link = await DeviceLink.open("127.0.0.1", device.port, { timeoutMs: 10_000, keys: reopened });
    // one session at a time: a second authenticated host is refused while this one is open
    await assert.rejects(
      DeviceLink.open("127.0.0.1", device.port, { timeoutMs: 10_000, keys: reopened }),
      /Cannot open a session for host 'host-[0-9a-f]+': device 'loopback' is serving another session \(one at a time\)$/,
    );
    await link.drainAndClose();
    await paired.idle();
    assert.ok(await device.trust.keys.forget(hostKeys.id));
    await assert.rejects(
      DeviceLink.open("127.0.0.1", device.port, { timeoutMs: 10_000, keys: reopened }),
      /it is not paired with device 'loopback'/,
    );
  } finally {
    await paired.close();
  }
});

Deno.test("pairing defaults: 600000 PBKDF2 iterations, 120 s codes, 3 tries; a host refuses a device asking for fewer", async () => {
  assert.equal(PBKDF2_ITERATIONS, 600_000);
  const w = new PairingWindow({ showCode() {} });
  assert.deepEqual([w.iterations, w.ttlMs, w.maxTries], [600_000, 120_000, 3]);
  const paired = await pairedLoopback({ bundleDir: await tinyBundle() }); // announces TEST_ITERATIONS
  try {
    await assert.rejects(
      pairWithDevice({
        host: "127.0.0.1",
        port: paired.device.port,
        code: () => paired.shown.at(-1)!,
        keys: KeyStore.memory("host"),
      }),
      /it asks for '1000' PBKDF2 iterations, fewer than this host accepts \('600000'\)$/,
    );
  } finally {
    await paired.close();
  }
});
