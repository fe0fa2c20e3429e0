/**
 * Measure batch throughput: the same items on the local engine and on Ray (an embedded instance), with 1
 * and 2 workers, each into a fresh folder; writes batch/throughput.json (summaries only).
 *
 *   deno run -A batch/throughput.ts [--prompts eval/prompts.jsonl] [--count 12] [--seeds 2] [--out batch/throughput.json]
 *
 * Per configuration: clips/s over the whole command (start-up included) and after the engine's start-up,
 * Ray's start-up, the engine's per-item overhead (an item's round trip through the engine minus the
 * worker's own time for it), and the worker's first and later item times (the model stays loaded).
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeTextAtomic } from "../eval/write_atomic.ts";
import { type BatchOptions, runBatch } from "./batch.ts";
import { ROOT } from "./engine.ts";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
};
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** One configuration's figures. */
export interface ThroughputRow {
  engine: "local" | "ray";
  workers: number;
  items: number;
  wallS: number;
  clipsPerS: number;
  startupS: number;
  clipsPerSAfterStartup: number;
  overheadMsMedian: number;
  overheadMsMean: number;
  firstItemGenerateMs: number;
  laterItemGenerateMsMedian: number;
}

async function measure(
  base: Omit<BatchOptions, "engine" | "workers" | "out">,
  engine: "local" | "ray",
  workers: number,
  out: string,
): Promise<ThroughputRow> {
  const s = await runBatch({ ...base, engine, workers, out });
  if (s.failed.length || s.ran !== s.items) {
    throw new Error(`Cannot measure: ${s.failed.length} items failed`);
  }
  const startupS = (s.engine?.startupMs ?? 0) / 1000;
  const overhead = s.records.map((r) => r.overheadMs ?? NaN).filter(Number.isFinite);
  const byWorker = new Map<string, number[]>();
  for (const r of s.records) {
    byWorker.set(r.worker, [...(byWorker.get(r.worker) ?? []), r.timings.generateMs]);
  }
  const firsts = [...byWorker.values()].map((v) => v[0]);
  const laters = [...byWorker.values()].flatMap((v) => v.slice(1));
  return {
    engine,
    workers,
    items: s.items,
    wallS: r3(s.seconds),
    clipsPerS: r3(s.items / s.seconds),
    startupS: r3(startupS),
    clipsPerSAfterStartup: r3(s.items / (s.seconds - startupS)),
    overheadMsMedian: r3(median(overhead)),
    overheadMsMean: r3(overhead.reduce((a, b) => a + b, 0) / overhead.length),
    firstItemGenerateMs: r3(median(firsts)),
    laterItemGenerateMsMedian: r3(median(laters)),
  };
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      prompts: { type: "string", default: join(ROOT, "eval/prompts.jsonl") },
      count: { type: "string", default: "12" },
      seeds: { type: "string", default: "2" },
      out: { type: "string", default: join(ROOT, "batch/throughput.json") },
    },
    strict: true,
  });
  const tmp = await Deno.makeTempDir({ prefix: "odsora_batch_throughput_" });
  try {
    const prompts = join(tmp, "prompts.jsonl");
    const lines = (await Deno.readTextFile(values.prompts!)).split("\n").filter((l) => l.trim());
    await Deno.writeTextFile(prompts, lines.slice(0, Number(values.count)).join("\n") + "\n");
    const base = {
      prompts,
      recipe: join(ROOT, "recipes/default.yaml"),
      variants: ["default"],
      seeds: Number(values.seeds),
      retries: 3,
      quiet: true,
    };
    const load = [Deno.loadavg()];
    const rows: ThroughputRow[] = [];
    for (const [engine, workers] of [["local", 1], ["local", 2], ["ray", 1], ["ray", 2]] as const) {
      const row = await measure(base, engine, workers, join(tmp, `${engine}-${workers}`));
      console.error(JSON.stringify(row));
      rows.push(row);
      load.push(Deno.loadavg());
    }
    const local = (w: number) => rows.find((r) => r.engine === "local" && r.workers === w)!;
    const ray = (w: number) => rows.find((r) => r.engine === "ray" && r.workers === w)!;
    const report = {
      what: "deno task batch on the default model (recipes/default.yaml), one item = one 64x64x17 clip",
      machine: {
        cpus: navigator.hardwareConcurrency,
        loadavg: load.map((l) => l.map((x) => Math.round(x * 100) / 100)),
      },
      at: new Date().toISOString(),
      rows,
      rayOverheadPerItemMs: {
        workers1: r3(ray(1).overheadMsMedian - local(1).overheadMsMedian),
        workers2: r3(ray(2).overheadMsMedian - local(2).overheadMsMedian),
      },
      speedup2Workers: {
        local: r3(local(2).clipsPerS / local(1).clipsPerS),
        ray: r3(ray(2).clipsPerS / ray(1).clipsPerS),
      },
    };
    await writeTextAtomic(values.out!, JSON.stringify(report, null, 2) + "\n");
    console.log(`wrote ${values.out}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) await main();
