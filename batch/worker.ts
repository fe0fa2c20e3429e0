/**
 * A batch worker process: `deno run -A batch/worker.ts --out DIR --worker ID`. It reads jobs (JSON, one a
 * line) on stdin and answers each with one JSON line on stdout, `{"ok": true, "record": {...}}` or
 * `{"ok": false, "item", "error"}`, running each with the same `generate()` as `deno task run`. The process
 * stays up between jobs, so the runtime and (for recipes without a memory budget) the model's blocks are
 * loaded once per worker. It exits when stdin closes.
 *
 * Each item is written as `DIR/.partial-NAME-PID-N/` and renamed to `DIR/NAME/` when complete (its
 * `item.json`, the manifest line, is written last inside it), so a killed worker leaves no half-written item;
 * an item whose folder already holds a finished run of the same key is not run again.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { oneLine } from "../runtime/cli/cli.ts";
import { framesFromVideo } from "../runtime/media/frames.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import type { RunEvent, Tensor } from "../runtime/core/types.ts";
import { readWorld, slowestDisplacement, type World } from "../eval/world.ts";
import { analyzeClip } from "../eval/analyze.ts";
import { closeWarmExecutors } from "./_warm_executor.ts";
import { lines } from "./engine.ts";
import type { BatchJob, ManifestRecord } from "./items.ts";
import { builtins } from "../builtins.ts";
import { withFallbackBundle } from "../runtime/cli/fallback_bundle.ts";

const WARM = new URL("./_warm_executor.ts", import.meta.url).pathname;
let partialCount = 0;

/** The finished record of `name` in `dir` when its key is `key`, else null. */
export async function finishedRecord(dir: string, name: string, key: string): Promise<ManifestRecord | null> {
  try {
    const r = JSON.parse(await Deno.readTextFile(join(dir, name, "item.json"))) as ManifestRecord;
    return r.key === key ? r : null;
  } catch {
    return null;
  }
}

const worlds = new Map<string, Promise<World>>();

/** The analyzer's reading of every clip of `video`, motion judged against the world's slowest object. */
async function analyzeAll(video: Tensor<"float32">, worldFile: string): Promise<Record<string, unknown>[]> {
  if (!worlds.has(worldFile)) worlds.set(worldFile, readWorld(worldFile));
  const world = await worlds.get(worldFile)!;
  return Array.from({ length: video.dims[0] }, (_, i) => {
    const clip = framesFromVideo(video, i);
    const a = analyzeClip(clip, { minDisplacement: slowestDisplacement(world, clip.count) / 2 });
    const { objectRgb: _o, backgroundRgb: _b, shapeFeatures: _s, ...kept } = a;
    return kept as Record<string, unknown>;
  });
}

/** Remove the leftovers of earlier unfinished starts of `name`; returns how many there were. */
async function clearPartials(dir: string, name: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(`.partial-${name}-`)) {
      n++;
      await Deno.remove(join(dir, e.name), { recursive: true }).catch(() => {});
    }
  }
  return n;
}

/** Run one job into `dir`; returns its manifest record. */
export async function runJob(job: BatchJob, dir: string, worker: string): Promise<ManifestRecord> {
  const done = await finishedRecord(dir, job.name, job.key);
  if (done) return done;
  const t0 = performance.now();
  const attempt = 1 + await clearPartials(dir, job.name);
  const partial = join(dir, `.partial-${job.name}-${Deno.pid}-${partialCount++}`);
  await Deno.mkdir(partial, { recursive: true });
  try {
    const overrides = { ...job.overrides, "output.dir": partial, "output.name": "video" };
    let recipe = await loadRecipe(job.recipe, { overrides });
    if (recipe.budget === null && recipe.executor.name === "local") {
      const { name: _name, ...options } = recipe.executor;
      recipe = await loadRecipe(job.recipe, {
        overrides: { ...overrides, executor: { plugin: WARM, ...options } },
      });
    }
    const g0 = performance.now();
    const decisions: RunEvent[] = [];
    const result = await generate(await withFallbackBundle(recipe, () => {}), {
      registry: builtins,
      emit: (e) => void ((e.type === "decision" || e.type === "cache") && decisions.push(e)),
    });
    const generateMs = performance.now() - g0;
    const files: Record<string, string> = {};
    result.outputs.forEach((sample, i) => {
      for (const [format, path] of Object.entries(sample)) {
        files[result.outputs.length === 1 ? format : `${format}_${i}`] = join(
          job.name,
          path.slice(partial.length + 1),
        );
      }
    });
    files.report = join(job.name, result.report.slice(partial.length + 1));
    const analyzed = job.world ? await analyzeAll(result.video, job.world) : undefined;
    if (job.keepVideo) {
      const v = result.video.data;
      await Deno.writeFile(join(partial, "video.f32"), new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      files.video_f32 = join(job.name, "video.f32");
    }
    const record: ManifestRecord = {
      item: job.name,
      key: job.key,
      ...job.info,
      seed: job.info.seed as number,
      files,
      ...(job.keepVideo ? { videoDims: result.video.dims } : {}),
      calls: result.calls,
      ...(decisions.length ? { decisions } : {}),
      timings: { generateMs, itemMs: performance.now() - t0 },
      ...(analyzed ? { analyzed } : {}),
      worker,
      attempt,
    };
    await Deno.writeTextFile(join(partial, "item.json"), JSON.stringify(record) + "\n");
    const target = join(dir, job.name);
    await Deno.remove(target, { recursive: true }).catch(() => {});
    await Deno.rename(partial, target);
    return record;
  } catch (e) {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** Serve jobs from stdin until it closes. */
export async function serve(dir: string, worker: string): Promise<void> {
  const out = (v: unknown) => Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(v) + "\n"));
  try {
    for await (const line of lines(Deno.stdin.readable)) {
      let job: BatchJob | null = null;
      try {
        job = JSON.parse(line) as BatchJob;
        out({ ok: true, record: await runJob(job, dir, worker) });
      } catch (e) {
        out({ ok: false, item: job?.name ?? null, error: oneLine(e) });
      }
    }
  } finally {
    await closeWarmExecutors();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { out: { type: "string" }, worker: { type: "string", default: `pid-${Deno.pid}` } },
    strict: true,
  });
  if (!values.out) {
    console.error("batch worker: error: Cannot serve: --out DIR is required");
    Deno.exit(2);
  }
  await serve(values.out, values.worker!);
  Deno.exit(0);
}
