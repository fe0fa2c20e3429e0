import assert from "node:assert/strict";
import {
  fromBase64,
  hmac,
  hmacVerify,
  pairingCode,
  randomBytes,
  sessionKeys,
  stretchCode,
  toBase64,
  transcript,
} from "./crypto.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("stretchCode() is PBKDF2-HMAC-SHA256 (RFC 7914 §11 vector: 'passwd', 'salt', 1 iteration)", async () => {
  const out = await stretchCode("passwd", new TextEncoder().encode("salt"), 1);
  assert.equal(hex(out), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
});

Deno.test("transcript() length-prefixes every part (big-endian), so no two part lists collide", () => {
  assert.deepEqual([...transcript(1)], [0, 0, 0, 4, 0, 0, 0, 1]);
  assert.deepEqual([...transcript("ab")], [0, 0, 0, 2, 97, 98]);
  assert.notDeepEqual(transcript("a", "bc"), transcript("ab", "c"));
  assert.notDeepEqual(transcript("", "a"), transcript("a", ""));
});

Deno.test("pairing codes are 6 digits from the CSPRNG; base64 round-trips and checks lengths", () => {
  const codes = Array.from({ length: 200 }, pairingCode);
  assert.ok(codes.every((c) => /^\d{6}$/.test(c)));
  assert.ok(new Set(codes).size > 190);
  const b = randomBytes(65);
  assert.deepEqual(fromBase64(toBase64(b), 65), b);
  assert.throws(() => fromBase64(toBase64(b), 32), /expected '32' bytes, got '65'/);
});

Deno.test("session keys differ per direction and per nonce pair; a flipped bit fails the MAC", async () => {
  const key = randomBytes(32);
  const t = { hostId: "h", deviceId: "d", hostNonce: randomBytes(32), deviceNonce: randomBytes(32) };
  const a = await sessionKeys(key, t);
  const b = await sessionKeys(key, { ...t, deviceNonce: randomBytes(32) });
  const data = randomBytes(100);
  const macs = await Promise.all([a.hostToDevice, a.deviceToHost, b.hostToDevice].map((k) => hmac(k, data)));
  assert.equal(new Set(macs.map(hex)).size, 3);
  assert.ok(await hmacVerify(a.hostToDevice, macs[0], data));
  data[7] ^= 1;
  assert.equal(await hmacVerify(a.hostToDevice, macs[0], data), false);
});
