import assert from "node:assert/strict";
import { availableBytes, mallocTrim, peakRssBytes, rssBytes } from "./memory.ts";

Deno.test("rssBytes() grows when this process touches a large buffer; peak is at least current", () => {
  const before = rssBytes();
  const big = new Uint8Array(64 * 1024 * 1024).fill(1);
  const after = rssBytes();
  assert.ok(after - before > 32 * 1024 * 1024, `${before} → ${after}`);
  assert.ok(peakRssBytes() >= after);
  assert.equal(big[big.length - 1], 1);
});

Deno.test("availableBytes() is positive and mallocTrim() reaches glibc on Linux", () => {
  assert.ok(availableBytes() > 0);
  assert.equal(mallocTrim(), Deno.build.os === "linux");
});
