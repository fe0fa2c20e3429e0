import assert from "node:assert/strict";
import { availableBytes, mallocTrim, peakRssBytes, rssBytes } from "./memory.ts";

Deno.test("rssBytes() counts a touched buffer and agrees with Deno.memoryUsage(); peak is at least current", () => {
  const big = new Uint8Array(64 * 1024 * 1024).fill(1);
  const rss = rssBytes();
  const deno = Deno.memoryUsage().rss;
  assert.ok(rss >= big.length, `${rss}`);
  assert.ok(Math.abs(rss - deno) < 0.2 * deno, `${rss} vs ${deno}`);
  assert.ok(peakRssBytes() >= rss);
  assert.equal(big[big.length - 1], 1);
});

Deno.test("availableBytes() is positive and mallocTrim() reaches glibc on Linux", () => {
  assert.ok(availableBytes() > 0);
  assert.equal(mallocTrim(), Deno.build.os === "linux");
});
