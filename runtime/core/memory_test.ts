import assert from "node:assert/strict";
import {
  availableBytes,
  collectGarbage,
  fileMappings,
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

/**
 * In a fresh process (other tests share this one's arenas and RSS): malloc and free 8 MiB twice, and say
 * whether the second allocation's address is still mapped after its free. glibc raises its mmap threshold
 * to the size of a freed mapped chunk, so without a fixed threshold the second one comes from the heap.
 */
async function secondFreeKeepsMapping(fix: boolean): Promise<boolean> {
  const memory = new URL("./memory.ts", import.meta.url).href;
  const code = `
    import { fixMmapThreshold } from "${memory}";
    if (${fix} && !fixMmapThreshold(128 * 1024)) throw new Error("mallopt failed");
    const libc = Deno.dlopen("libc.so.6", {
      malloc: { parameters: ["usize"], result: "pointer" },
      free: { parameters: ["pointer"], result: "void" },
    });
    const mapped = (address) => Deno.readTextFileSync("/proc/self/maps").split("\\n").some((line) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(line);
      return m !== null && BigInt("0x" + m[1]) <= address && address < BigInt("0x" + m[2]);
    });
    libc.symbols.free(libc.symbols.malloc(8n * 1024n * 1024n));
    const second = libc.symbols.malloc(8n * 1024n * 1024n);
    const address = BigInt(Deno.UnsafePointer.value(second));
    libc.symbols.free(second);
    console.log(JSON.stringify(mapped(address)));`;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "--ext=js", code] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("fixMmapThreshold() keeps large allocations mapped on their own: freeing one hands its pages back", async () => {
  if (Deno.build.os !== "linux") return;
  assert.equal(await secondFreeKeepsMapping(false), true, "glibc's own threshold rose: the heap kept it");
  assert.equal(await secondFreeKeepsMapping(true), false, "a fixed threshold: unmapped at its free");
});

Deno.test("collectGarbage() runs V8's collector where exposed, plain or memory-reducing", () => {
  const exposed = typeof (globalThis as { gc?: unknown }).gc === "function";
  assert.equal(collectGarbage(), exposed);
  assert.equal(collectGarbage(true), exposed);
});
