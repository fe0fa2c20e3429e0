import assert from "node:assert/strict";
import {
  availableBytes,
  collectGarbage,
  fileMappings,
  fixMmapThreshold,
  mallocTrim,
  peakRssBytes,
  populate,
  rssBytes,
} from "./memory.ts";

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

Deno.test("fileMappings() lists this process's mapped executable and populate() faults its pages in", () => {
  if (Deno.build.os !== "linux") return;
  const exe = fileMappings().filter((m) => m.path === Deno.execPath());
  assert.ok(exe.length > 0 && exe.every((m) => m.end > m.start), "the deno executable is mapped");
  const bytes = exe.reduce((s, m) => s + Number(m.end - m.start), 0);
  assert.equal(populate(exe), bytes);
  const rssFile = Number(/RssFile:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) * 1024;
  assert.ok(rssFile >= 0.9 * bytes, `${rssFile} resident of ${bytes} mapped`);
  assert.equal(
    populate([{ start: 1n << 40n, end: (1n << 40n) + 4096n, path: "/nowhere" }]),
    0,
    "skips a gone range",
  );
});

Deno.test("fixMmapThreshold() maps a large allocation on its own: freeing it hands its pages back at once", () => {
  if (Deno.build.os !== "linux") return;
  assert.equal(fixMmapThreshold(128 * 1024), true);
  const size = 8 * 1024 * 1024;
  const buffer = new ArrayBuffer(size);
  new Uint8Array(buffer).fill(1);
  const held = rssBytes();
  buffer.transfer(0); // frees the backing store now
  const freed = held - rssBytes();
  assert.ok(freed >= 0.9 * size, `freeing ${size} B gave back ${freed} B without a trim`);
});

Deno.test("collectGarbage() runs V8's collector where exposed, plain or memory-reducing", () => {
  const exposed = typeof (globalThis as { gc?: unknown }).gc === "function";
  assert.equal(collectGarbage(), exposed);
  assert.equal(collectGarbage(true), exposed);
});
