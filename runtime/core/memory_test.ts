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
  // Which mapping holds an address (other tests in this process map and unmap meanwhile, and the kernel
  // merges neighbouring anonymous mappings, so the address is what tells this allocation apart).
  const mappingOf = (address: bigint) =>
    Deno.readTextFileSync("/proc/self/maps").split("\n").find((line) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(line);
      return m !== null && BigInt(`0x${m[1]}`) <= address && address < BigInt(`0x${m[2]}`);
    });
  // malloc itself (onnxruntime's allocations go through it; V8's array buffers may not)
  const libc = Deno.dlopen("libc.so.6", {
    malloc: { parameters: ["usize"], result: "pointer" },
    free: { parameters: ["pointer"], result: "void" },
  });
  try {
    const size = 8 * 1024 * 1024;
    // malloc serves a request from an arena's free top before it looks at the threshold: hand those back first
    mallocTrim();
    assert.equal(fixMmapThreshold(128 * 1024), true);
    const block = libc.symbols.malloc(BigInt(size));
    assert.ok(block !== null);
    const address = BigInt(Deno.UnsafePointer.value(block));
    assert.ok(mappingOf(address) !== undefined);
    libc.symbols.free(block);
    assert.equal(mappingOf(address), undefined, "freeing it unmapped it");
  } finally {
    libc.close();
  }
});

Deno.test("collectGarbage() runs V8's collector where exposed, plain or memory-reducing", () => {
  const exposed = typeof (globalThis as { gc?: unknown }).gc === "function";
  assert.equal(collectGarbage(), exposed);
  assert.equal(collectGarbage(true), exposed);
});
