/**
 * Process memory: resident set size and available system memory from /proc, and glibc `malloc_trim(0)`
 * through Deno FFI (onnxruntime's released sessions go back to glibc, not to the OS, until trimmed).
 *
 * @module
 */

function procField(file: string, field: string): number | null {
  try {
    const text = Deno.readTextFileSync(file);
    const m = text.match(new RegExp(`^${field}:\\s+(\\d+)\\s*kB`, "m"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Resident set size of this process (all lanes included: workers share the process), bytes.
 * Falls back to `Deno.memoryUsage().rss` where /proc is unavailable.
 *
 * @example
 * ```ts
 * import { rssBytes } from "./memory.ts";
 * console.assert(rssBytes() > 0);
 * ```
 */
export function rssBytes(): number {
  return procField("/proc/self/status", "VmRSS") ?? Deno.memoryUsage().rss;
}

/** Peak resident set size of this process (VmHWM), bytes; the current RSS where unknown. */
export function peakRssBytes(): number {
  return procField("/proc/self/status", "VmHWM") ?? rssBytes();
}

/** Reset the peak-RSS mark (VmHWM) to the current RSS (Linux `/proc/self/clear_refs`); false where it cannot. */
export function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** Memory the OS could give this process now (MemAvailable), bytes. */
export function availableBytes(): number {
  return procField("/proc/meminfo", "MemAvailable") ?? Deno.systemMemoryInfo().available;
}

type Libc = {
  symbols: {
    malloc_trim: (pad: bigint) => number;
    mallopt: (param: number, value: number) => number;
    madvise: (addr: bigint, length: bigint, advice: number) => number;
  };
};
let libc: Libc | null | undefined;

function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      libc = Deno.dlopen(name, {
        malloc_trim: { parameters: ["usize"], result: "i32" },
        mallopt: { parameters: ["i32", "i32"], result: "i32" },
        madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
      }) as unknown as Libc;
      break;
    } catch {
      // not glibc, or no --allow-ffi: trimming is an optimisation, never required
    }
  }
  return libc;
}

/**
 * Return freed heap memory to the OS (`malloc_trim(0)`); `false` when unavailable (no glibc or no FFI
 * permission).
 *
 * @example
 * ```ts
 * import { mallocTrim } from "./memory.ts";
 * mallocTrim();
 * ```
 */
export function mallocTrim(): boolean {
  const lib = openLibc();
  if (!lib) return false;
  lib.symbols.malloc_trim(0n);
  return true;
}

const M_MMAP_THRESHOLD = -3;

/**
 * Fix glibc's mmap threshold at `bytes` (`mallopt(M_MMAP_THRESHOLD)`): every allocation of at least that
 * size gets its own mapping, handed back to the OS when freed. By default the threshold grows with the
 * largest block freed (up to 32 MiB), after which such allocations come from the heap, where aligned
 * allocations (onnxruntime's tensors) of a size just freed do not fit the hole the last one left: the heap
 * grows by one tensor per operator. Process-wide; `false` when unavailable.
 *
 * @example
 * ```ts
 * import { fixMmapThreshold } from "./memory.ts";
 * fixMmapThreshold(128 * 1024);
 * ```
 */
export function fixMmapThreshold(bytes: number): boolean {
  const lib = openLibc();
  if (!lib) return false;
  return lib.symbols.mallopt(M_MMAP_THRESHOLD, bytes) === 1;
}

/** A file mapped into this process: its address range and path (from `/proc/self/maps`). */
export interface FileMapping {
  start: bigint;
  end: bigint;
  path: string;
}

/**
 * This process's file-backed memory mappings (`/proc/self/maps`); empty where there is no procfs.
 *
 * @example
 * ```ts
 * import { fileMappings } from "./memory.ts";
 * fileMappings().some((m) => m.path.endsWith(".so")); // shared libraries, on Linux
 * ```
 */
export function fileMappings(): FileMapping[] {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/self/maps");
  } catch {
    return [];
  }
  const out: FileMapping[] = [];
  for (const line of text.split("\n")) {
    const slash = line.indexOf(" /");
    if (slash < 0) continue;
    const dash = line.indexOf("-");
    const space = line.indexOf(" ");
    out.push({
      start: BigInt(`0x${line.slice(0, dash)}`),
      end: BigInt(`0x${line.slice(dash + 1, space)}`),
      path: line.slice(slash + 1),
    });
  }
  return out;
}

const MADV_POPULATE_READ = 22;

/**
 * Fault in every page of `mappings` now (`madvise(MADV_POPULATE_READ)`, Linux ≥ 5.14), so that the thread
 * that touches them next does not pay the page faults. Returns the bytes populated; mappings that are gone
 * or refused are skipped (populating is an optimisation, never required).
 *
 * @example
 * ```ts ignore
 * populate(fileMappings().filter((m) => m.path.endsWith(".onnx.data")));
 * ```
 */
export function populate(mappings: readonly FileMapping[]): number {
  const lib = openLibc();
  if (!lib) return 0;
  let bytes = 0;
  for (const m of mappings) {
    if (lib.symbols.madvise(m.start, m.end - m.start, MADV_POPULATE_READ) === 0) {
      bytes += Number(m.end - m.start);
    }
  }
  return bytes;
}

/**
 * Run V8's garbage collector now where the process exposes it (`--v8-flags=--expose-gc`); returns whether
 * it ran. Budgeted runs call it between passes so that the JavaScript heap does not grow outside the plan.
 * With `reduce`, it collects all it can and shrinks the young generation back to its start (slower: several
 * full collections); measured on the hard-cap test's 25% run with an inline lane, where the main thread's
 * young generation had grown by 8–10 MiB over the run, the run's added peak went from 80–84 to 66–68 MiB.
 *
 * @example
 * ```ts
 * import { collectGarbage } from "./memory.ts";
 * collectGarbage(); // false unless deno was started with --v8-flags=--expose-gc
 * collectGarbage(true); // and give the young generation's memory back
 * ```
 */
export function collectGarbage(reduce = false): boolean {
  const gc = (globalThis as unknown as { gc?: (options?: Record<string, string>) => void }).gc;
  if (typeof gc !== "function") return false;
  // "last-resort": V8's collection of all available garbage (as on a low-memory notification), which also
  // shrinks the young generation back; a plain gc() leaves it at the size it grew to
  if (reduce) gc({ type: "major", execution: "sync", flavor: "last-resort" });
  else gc();
  return true;
}
