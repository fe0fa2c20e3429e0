/**
 * A CPU capacity probe: how many cores of throughput this process gets right now. The same fixed loop
 * runs in one worker, then in two at once; capacity = 2 · t_alone / t_together (about 2 on an idle
 * 2-core machine, about 1 when another process keeps a core busy). Overlap figures are only meaningful
 * with the capacity measured around them (DESIGN.md §4).
 *
 * @module
 */

/** One probe's figures. */
export interface Capacity {
  /** Cores of throughput (1 worker's speed = 1). */
  cores: number;
  aloneMs: number;
  togetherMs: number;
  at: string;
}

function runIn(worker: Worker, iterations: number): Promise<number> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<{ ms: number }>) => resolve(e.data.ms);
    worker.onerror = (e) => reject(new Error(`Cannot probe capacity: ${e.message}`));
    worker.postMessage({ iterations });
  });
}

/**
 * Measure the capacity (median of `repeats` probes of about `ms` milliseconds each).
 *
 * @example
 * ```ts ignore
 * const c = await probeCapacity();
 * console.log(c.cores.toFixed(2));
 * ```
 */
export async function probeCapacity(
  options: { iterations?: number; repeats?: number } = {},
): Promise<Capacity> {
  const iterations = options.iterations ?? 4_000_000;
  const url = new URL("./_capacity_worker.ts", import.meta.url);
  const workers = [0, 1].map(() => new Worker(url, { type: "module" }));
  try {
    await Promise.all(workers.map((w) => runIn(w, 1000))); // warm up both
    const alone: number[] = [];
    const together: number[] = [];
    for (let r = 0; r < (options.repeats ?? 3); r++) {
      alone.push(await runIn(workers[0], iterations));
      const both = await Promise.all(workers.map((w) => runIn(w, iterations)));
      together.push(Math.max(...both));
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const [a, t] = [median(alone), median(together)];
    return { cores: (2 * a) / t, aloneMs: a, togetherMs: t, at: new Date().toISOString() };
  } finally {
    workers.forEach((w) => w.terminate());
  }
}
