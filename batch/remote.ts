/**
 * Runs of a recipe on a batch engine, for callers that need the decoded videos back (eval, the bench's
 * quality rows): each run is a job whose worker also keeps the float32 video (`video.f32`), read back here
 * as the same tensor `generate()` returns. Videos are identical to in-process runs for the same recipe,
 * prompts and seed (the worker runs the same `generate()`).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunEvent, Tensor } from "../runtime/core/types.ts";
import type { EngineOptions, ItemResult } from "./engine.ts";
import { runLocal } from "./engine_local.ts";
import { runRay } from "./engine_ray.ts";
import { type BatchJob, jobKey, type ManifestRecord } from "./items.ts";

/** One run: a recipe file and its overrides (dotted keys, as `loadRecipe` takes them). */
export interface RemoteRun {
  recipe: string;
  overrides: Record<string, unknown>;
}

/** What a remote run gave back. */
export interface RemoteResult {
  video: Tensor<"float32">;
  /** `generate()` time on the worker, seconds. */
  seconds: number;
  calls: number;
  /** The run's decision events (e.g. an LPL leap). */
  decisions: RunEvent[];
}

/** Options: the engine and its settings (the output folder is a temporary one). */
export interface RemoteOptions {
  engine: "local" | "ray";
  workers?: number;
  address?: string;
  retries?: number;
  log?: (line: string) => void;
}

/**
 * Run `runs` on the engine (one shard per run) and return their videos in order.
 *
 * @example
 * ```ts ignore
 * const [r] = await generateRemote([{ recipe: "recipes/default.yaml", overrides: { seed: 1 } }], { engine: "ray" });
 * r.video.dims; // [1, 3, 17, 64, 64]
 * ```
 */
export async function generateRemote(
  runs: readonly RemoteRun[],
  options: RemoteOptions,
): Promise<RemoteResult[]> {
  const dir = await Deno.makeTempDir({ prefix: "odsora_remote_" });
  try {
    const jobs: BatchJob[] = [];
    for (const [i, run] of runs.entries()) {
      const recipe = run.recipe.startsWith("file:") ? fileURLToPath(run.recipe) : run.recipe;
      const absolute = recipe.startsWith("/") ? recipe : join(Deno.cwd(), recipe);
      jobs.push({
        name: `run-${String(i).padStart(4, "0")}`,
        key: await jobKey(await Deno.readTextFile(absolute), absolute, [], i, run.overrides),
        recipe: absolute,
        overrides: run.overrides,
        keepVideo: true,
        info: { seed: (run.overrides.seed as number | undefined) ?? null },
      });
    }
    const records = new Map<string, ManifestRecord>();
    const failed: string[] = [];
    const onResult = (r: ItemResult) => {
      if (r.ok) records.set(r.record.item, r.record);
      else failed.push(r.error);
    };
    const engine: EngineOptions = {
      dir,
      workers: options.workers ?? 1,
      retries: options.retries ?? 3,
      address: options.address,
      log: options.log,
    };
    const shards = jobs.map((j) => [j]);
    if (options.engine === "ray") await runRay(shards, engine, onResult);
    else await runLocal(shards, engine, onResult);
    if (failed.length) throw new Error(`Cannot finish ${failed.length} of ${runs.length} runs: ${failed[0]}`);
    const out: RemoteResult[] = [];
    for (const job of jobs) {
      const r = records.get(job.name)!;
      const bytes = await Deno.readFile(join(dir, r.files.video_f32));
      const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      out.push({
        video: { dtype: "float32", dims: r.videoDims as number[], data },
        seconds: r.timings.generateMs / 1000,
        calls: r.calls as number,
        decisions: (r.decisions ?? []) as RunEvent[],
      });
    }
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
