/**
 * `deno task bench`: the paper's techniques measured in one run on this machine, as ratios against the
 * 30-step resident Euler baseline. Speed and memory rows run the denoiser of a wide random-weight bundle
 * (STDiT3-XL by default) at a small latent size (the weights do not change the cost); quality rows
 * (SSIM/PSNR vs the baseline's video) run the trained default model end to end when it exists.
 * Writes bench/report.json and bench/timeline.json (per-block load vs compute) and prints a table.
 * Each lane computes with `--threads` threads (default 1): on a 2-core machine one core runs the blocks and
 * the other is free to load the next one, as the paper's NPU computes while the CPU loads.
 *
 *   deno task bench [--bundle DIR] [--pairs N] [--latent T,H,W] [--rows a,b] [--threads N] [--help]
 *
 * The quality half runs first: a dynamic-LPL row's speed run then leaps at the step dynamic LPL chose on the
 * trained model (report: leap_step, leap_step_trained, leap_source), not where the random weights' drifts
 * would make it leap.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { BudgetError, OdsoraError } from "../runtime/core/errors.ts";
import { writeFileAtomic } from "../runtime/media/atomic.ts";
import { loadBundle, stageOf } from "../runtime/bundle/bundle.ts";
import { parseBudget } from "../runtime/recipe/recipe.ts";
import { resolvePlugin } from "../builtins.ts";
import { relL2 } from "../runtime/core/tensor.ts";
import { denoiserWorkBytes } from "../runtime/core/work_estimate.ts";
import type { Tensor } from "../runtime/core/types.ts";
import { benchInputs, firstPairs } from "./_inputs.ts";
import { qualityRows } from "./_quality_rows.ts";
import { ROWS, speedSampler, speedStepCache } from "./_rows.ts";
import { runRow } from "./_speed_row.ts";
import { measureBlockMemory, withMeasuredSizes } from "./_work_probe.ts";
import { type Capacity, probeCapacity } from "./capacity.ts";
import { formatTable, type ReportRow, withRatios } from "./report.ts";
import { loadComputeOverlap, perBlockMedians, timelineOf } from "./timeline.ts";

const ROOT = resolve(new URL(".", import.meta.url).pathname, "..");
/** The default speed bundle: STDiT3-XL's denoiser with random weights, built once by the exporter. */
const XL = join(ROOT, ".odsora-cache", "bench-xl-denoiser");
const buildArgs = (
  dir: string,
) => ["-m", "export", "random", "--config", "xl", "--stages", "denoiser", "--out", dir];

const OPTIONS = {
  bundle: { type: "string", default: XL },
  pairs: { type: "string" },
  latent: { type: "string", default: "10,8,8" },
  frames: { type: "string" },
  tokens: { type: "string", default: "20" },
  steps: { type: "string", default: "30" },
  threads: { type: "string", default: "1" },
  prepack: { type: "string", default: "kept" },
  rows: { type: "string" },
  "quality-bundle": { type: "string", default: join(ROOT, "models", "default") },
  "quality-recipe": { type: "string", default: join(ROOT, "recipes", "default.yaml") },
  out: { type: "string", default: join(ROOT, "bench", "report.json") },
  timeline: { type: "string", default: join(ROOT, "bench", "timeline.json") },
  engine: { type: "string", default: "inline" },
  workers: { type: "string", default: "1" },
  address: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** Usage text of `deno task bench`. */
const USAGE = `usage: deno task bench [--bundle DIR] [--pairs N] [--latent T,H,W] [--frames N] [--tokens N]
                       [--steps N] [--threads N] [--prepack kept|true|false] [--rows a,b]
                       [--quality-bundle DIR] [--quality-recipe FILE]
                       [--out bench/report.json] [--timeline bench/timeline.json]
                       [--engine inline|local|ray] [--workers N] [--address ADDR] [--help]

Speed and memory rows run the denoiser of --bundle (default: STDiT3-XL with random weights, built once);
quality rows (SSIM/PSNR vs the baseline's video) run --quality-bundle (default: models/default) first, and a
dynamic-LPL row's speed run leaps where dynamic LPL leapt on that trained model. --engine local|ray runs the
quality rows on \`deno task batch\`'s worker processes or on Ray (same videos; inline: in this process).
--prepack: the speed rows' local executor pre-packs the blocks a plan keeps (kept), every block (true:
streamed ones too, on their loading lane), or none.
Rows: ${ROWS.map((r) => r.name).join(", ")} (the baseline always runs).`;

const parsed = (() => {
  try {
    return parseArgs({ args: Deno.args, options: OPTIONS });
  } catch (e) {
    console.error(`bench: error: Cannot read the options: ${(e as Error).message}`);
    Deno.exit(2);
  }
})();
const args = parsed.values;
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}

// Where the quality rows run: this process, or `deno task batch`'s worker processes / Ray (same videos).
const qualityEngine = (() => {
  const engine = args.engine, workers = Number(args.workers);
  if (engine !== "inline" && engine !== "local" && engine !== "ray") {
    console.error(`bench: error: Cannot bench: --engine '${engine}' is not 'inline', 'local' or 'ray'`);
    Deno.exit(2);
  }
  if (!Number.isInteger(workers) || workers < 1) {
    console.error(`bench: error: Cannot bench: --workers '${args.workers}' is not a positive integer`);
    Deno.exit(2);
  }
  return { engine, workers, address: args.address } as const;
})();

if (!existsSync(join(args.bundle, "bundle.json")) && resolve(args.bundle) === XL) {
  console.log(`bench: building the STDiT3-XL random-weight denoiser bundle in ${XL} (once; ~5 GB, minutes)`);
  const built = await new Deno.Command(join(ROOT, "scripts", "py"), { args: buildArgs(XL), cwd: ROOT })
    .spawn()
    .status;
  if (!built.success) {
    console.error(
      `Cannot bench: building '${XL}' failed (exit ${built.code}); see the exporter's message above`,
    );
    Deno.exit(1);
  }
}
if (!existsSync(join(args.bundle, "bundle.json"))) {
  console.error(
    `Cannot bench: '${
      join(args.bundle, "bundle.json")
    }' does not exist; build a denoiser bundle with \`scripts/py ${buildArgs("DIR").join(" ")}\``,
  );
  Deno.exit(1);
}
/** One error line, exit 1; nothing is written (the report is written only when every row ran). */
function fail(message: string): never {
  console.error(`bench: error: ${message}`);
  Deno.exit(1);
}

const [t, h, w] = args.latent.split(",").map(Number);
const shape = {
  t,
  h,
  w,
  frames: Number(args.frames ?? Math.ceil(t / 5) * 17),
  steps: Number(args.steps),
  tokens: Number(args.tokens),
};
const threads = Number(args.threads);
const prepackArg = args.prepack;
if (!["kept", "true", "false"].includes(prepackArg)) {
  fail(`Cannot read --prepack '${prepackArg}': use kept, true or false`);
}
const prepack = prepackArg === "kept" ? "kept" : prepackArg === "true";
const wanted = args.rows ? new Set(["baseline", ...args.rows.split(",")]) : null;
const rows = ROWS.filter((r) => !wanted || wanted.has(r.name));

const full = await loadBundle(args.bundle);
const bundle = firstPairs(full, args.pairs ? Number(args.pairs) : null);
const denoiser = stageOf(bundle, "denoiser");
const stageBytes = denoiser.blocks.reduce((s, b) => s + b.bytes, 0);
const bundleLabel =
  `${relative(ROOT, full.dir) || full.dir} (${full.name}, hidden ${denoiser.hidden_size}, ` +
  `${denoiser.blocks.length} blocks${args.pairs ? ` = first ${args.pairs} pairs` : ""}, ${
    (stageBytes / 1e9).toFixed(2)
  } GB)`;
const inputs = await benchInputs(bundle, shape);
console.log(
  `bench: ${bundleLabel}; latent [1, 4, ${t}, ${h}, ${w}], ${shape.steps} steps, ${threads} threads per lane`,
);

const capacityStart = await probeCapacity();
const blockMemory = await measureBlockMemory(bundle, inputs, { threads });
const { bundle: sized, workBytes } = withMeasuredSizes(bundle, blockMemory);
const mib = (v: number) => `${(v / 2 ** 20).toFixed(0)} MiB`;
const maxOf = (r: Record<string, number>) => Math.max(...Object.values(r));
const biggest = stageOf(sized, "denoiser").blocks.reduce((a, b) => (b.bytes > a.bytes ? b : a));
console.log(
  `measured per block: ${mib(biggest.bytes)} loaded (file ${
    mib(denoiser.blocks.find((b) => b.name === biggest.name)!.bytes)
  }), ${mib(maxOf(blockMemory.loadExtraBytes))} extra while loading, ${
    mib(maxOf(blockMemory.runBytes))
  } to run; ${mib(blockMemory.laneBytes)} a lane (inside the budget: the run measures its own)`,
);

// The quality half first: dynamic LPL's leap on the trained model decides where its speed row leaps.
const qualityBundle = resolve(args["quality-bundle"]);
const quality = existsSync(join(qualityBundle, "bundle.json"))
  ? await qualityRows(args["quality-recipe"], qualityBundle, rows, qualityEngine)
  : null;
if (!quality) {
  console.log(
    `quality rows skipped: '${join(qualityBundle, "bundle.json")}' does not exist (ssim/psnr are null; ` +
      `dynamic LPL decides its leap on the speed bundle)`,
  );
}

const measured: Omit<ReportRow, "speedup_denoise" | "speedup_total">[] = [];
const timelines: Record<string, unknown> = {};
let baseline: Tensor<"float32"> | null = null;
const refused: { name: string; budget_bytes: number | null; message: string }[] = [];
for (const row of rows) {
  const { budget, ...schedulerSpec } = row.scheduler;
  const spec = budget === undefined ? null : parseBudget(budget ?? null);
  if (typeof spec === "string") fail(`Cannot bench row '${row.name}': ${spec}`);
  const budgetBytes = spec === null
    ? null
    : "bytes" in spec
    ? spec.bytes
    : Math.floor(spec.fraction * stageBytes);
  const trainedLeap = quality ? (quality.get(row.name)?.leapStep ?? null) : undefined;
  const { sampler, leapSource } = speedSampler(row, trainedLeap);
  const { stepCache, cacheSource } = speedStepCache(row, quality?.get(row.name)?.reusedSteps);
  const plugins = {
    sampler: await resolvePlugin("sampler", sampler, ROOT),
    stepCache: stepCache ? await resolvePlugin("step-cache", stepCache, ROOT) : null,
    tokenOps: await Promise.all(row.token_ops.map((s) => resolvePlugin("token-op", s, ROOT))),
    scheduler: await resolvePlugin("scheduler", schedulerSpec, ROOT),
    budgetBytes,
  };
  const streaming = row.scheduler.name !== "resident";
  const before: Capacity | null = streaming ? await probeCapacity() : null;
  const r = await runRow(sized, plugins, inputs, { threads, workBytes, prepack }).catch((e: unknown) => {
    // A budget no plan can hold is the row's result (the run refused it), not the bench's failure.
    if (e instanceof BudgetError && row.name !== "baseline") {
      refused.push({ name: row.name, budget_bytes: budgetBytes, message: e.message });
      return null;
    }
    if (e instanceof OdsoraError) fail(`Cannot bench row '${row.name}': ${e.message}`);
    throw e;
  });
  if (r === null) {
    console.log(`${row.name}: refused: ${refused.at(-1)!.message}`);
    continue;
  }
  const after: Capacity | null = streaming ? await probeCapacity() : null;
  baseline ??= r.latent;
  const ops = timelineOf(r.events);
  timelines[row.name] = { blocks: perBlockMedians(ops), ops: ops.filter((o) => o.pass < 3), plan: r.plan };
  const added = r.peakRssBytes - r.startRssBytes;
  measured.push({
    name: row.name,
    bundle: bundleLabel,
    denoise_s: r.denoiseS,
    total_s: r.totalS,
    peak_rss_bytes: r.peakRssBytes,
    start_rss_bytes: r.startRssBytes,
    budget_bytes: budgetBytes,
    plan_peak_bytes: r.plan.peakBytes,
    within_budget: budgetBytes === null ? null : added <= budgetBytes,
    replan: r.memory.stages[0]?.notes.join("; ") || null,
    first_plan_resident: r.memory.stages[0]?.firstPlan.resident ?? null,
    overlap: loadComputeOverlap(ops, r.plan.resident),
    ssim: null,
    psnr: null,
    quality_bundle: null,
    leap_step: r.leapStep,
    leap_step_trained: leapSource === null ? null : (trainedLeap ?? null),
    leap_source: leapSource,
    model_calls: r.calls,
    reused_calls: r.reusedCalls,
    cache_source: cacheSource,
    loads_reused: r.loadsReused,
    loads_computed: r.loadsComputed,
    resident_blocks: r.plan.resident.length,
    lanes: r.plan.lanes,
    latent_rel_l2: relL2(r.latent, baseline),
    capacity_cores: before && after ? (before.cores + after.cores) / 2 : null,
  });
  console.log(
    `${row.name}: denoise ${r.denoiseS.toFixed(1)} s, total ${
      r.totalS.toFixed(1)
    } s, ${r.calls} calls, added ${mib(r.peakRssBytes - r.startRssBytes)}${
      budgetBytes === null ? "" : ` of a ${mib(budgetBytes)} budget`
    }` +
      (leapSource ? `, leap at ${r.leapStep ?? "-"} (leap source: ${leapSource})` : "") +
      (cacheSource ? `, ${r.reusedCalls} reused (cache source: ${cacheSource})` : ""),
  );
}

for (const m of measured) {
  const q = quality?.get(m.name);
  if (q) Object.assign(m, { ssim: q.ssim, psnr: q.psnr, quality_bundle: relative(ROOT, qualityBundle) });
}

const report = {
  machine: {
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    cpus: navigator.hardwareConcurrency,
    cpu_model: (Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? null,
    memory_bytes: Deno.systemMemoryInfo().total,
    deno: Deno.version.deno,
    capacity_start: capacityStart,
    capacity_end: await probeCapacity(),
    loadavg: Deno.loadavg(),
  },
  settings: {
    ...shape,
    threads,
    prepack,
    bundle: bundleLabel,
    work_bytes: workBytes,
    stage_bytes: stageBytes,
    block_memory: blockMemory,
    /** What the runtime plans with when nothing was measured (runtime/core/work_estimate.ts). */
    estimated_work_bytes: denoiserWorkBytes(denoiser, { batch: 2, t, h, w, textLength: inputs.y.dims[1] }),
  },
  rows: withRatios(measured),
  /** Rows whose budget no plan could hold: the run refused them with this error. */
  refused,
};
await writeFileAtomic(args.out, new TextEncoder().encode(JSON.stringify(report, null, 1) + "\n"));
await writeFileAtomic(args.timeline, new TextEncoder().encode(JSON.stringify({ rows: timelines }) + "\n"));
console.log(formatTable(report.rows));
console.log(`wrote ${relative(Deno.cwd(), args.out)} and ${relative(Deno.cwd(), args.timeline)}`);
