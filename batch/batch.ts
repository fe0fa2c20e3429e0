/**
 * `deno task batch`: a prompt file in, a video folder per item and one `DIR/manifest.jsonl` out, resumable.
 *
 *   deno task batch PROMPTS.jsonl --recipe R [--variant default,lpl-15|every] [--seeds N] --out DIR
 *                   [--engine local|ray] [--address ADDR] [--workers N] [--shard-size N] [--retries N] [--quiet]
 *
 * One item = one prompt × variant × seed run of the recipe (seeds: the recipe's seed, +1, ...). Items are
 * split into shards and run by long-lived worker processes (batch/worker.ts) on this machine (`local`) or
 * on Ray (`ray`: a local instance on 127.0.0.1, or the cluster at `--address`). Each finished item is a
 * folder `DIR/NAME/` (renamed into place complete) and a manifest line; a rerun skips finished items.
 * Bad input: one error line, exit 2, nothing written.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { oneLine } from "../runtime/cli/cli.ts";
import { OdsoraError } from "../runtime/core/errors.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { parseVariants, variantOverrides, VARIANTS } from "../eval/variants.ts";
import { findWorldFile, readWorld } from "../eval/world.ts";
import type { EngineRun, ItemResult } from "./engine.ts";
import { runLocal } from "./engine_local.ts";
import { runRay } from "./engine_ray.ts";
import {
  BatchError,
  type BatchJob,
  expandJobs,
  type ManifestRecord,
  parseManifest,
  readBatchPrompts,
  shards,
} from "./items.ts";
import { finishedRecord } from "./worker.ts";

const USAGE = `Usage: deno task batch PROMPTS.jsonl --recipe R --out DIR [options]

  --recipe FILE       the recipe every item runs (required)
  --out DIR           output folder: DIR/NAME/ per item and DIR/manifest.jsonl (required)
  --variant LIST      recipe variants, comma-separated (${
  Object.keys(VARIANTS).join(", ")
}) or 'every' [default]
  --seeds N           seeds per prompt and variant: the recipe's seed, +1, ... [1]
  --engine NAME       local (worker processes here) or ray [local]
  --address ADDR      Ray cluster to join (ray engine); none starts a local Ray instance on 127.0.0.1
  --workers N         worker processes (Ray: actors) [1]
  --shard-size N      items per shard [items / (4 × workers), at least 1]
  --retries N         Ray: restarts of a dead worker and retries of its shard [3]
  --quiet             only errors
  --help              this text`;

/** A parsed batch command line. */
export interface BatchOptions {
  prompts: string;
  recipe: string;
  out: string;
  variants: string[];
  seeds: number;
  engine: "local" | "ray";
  address?: string;
  workers: number;
  shardSize?: number;
  retries: number;
  quiet: boolean;
}

function count(value: string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min) {
    throw new BatchError(`Cannot run the batch: --${flag} '${value}' is not an integer ≥ ${min}`);
  }
  return n;
}

/** Parse and check the command line (no file is read). */
export function parseBatchArgs(args: string[]): BatchOptions | "help" {
  let parsed;
  try {
    const s = { type: "string" as const };
    parsed = parseArgs({
      args,
      options: {
        recipe: s,
        out: s,
        variant: s,
        seeds: s,
        engine: s,
        address: s,
        workers: s,
        "shard-size": s,
        retries: s,
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new BatchError(`Cannot parse the command line: ${oneLine(e)} (see --help)`);
  }
  const v = parsed.values;
  if (v.help) return "help";
  if (parsed.positionals.length !== 1) {
    throw new BatchError(
      `Cannot run the batch: expected one prompt file, got ${parsed.positionals.length} (see --help)`,
    );
  }
  if (!v.recipe) throw new BatchError("Cannot run the batch: --recipe is required");
  if (!v.out) throw new BatchError("Cannot run the batch: --out is required");
  const engine = v.engine ?? "local";
  if (engine !== "local" && engine !== "ray") {
    throw new BatchError(`Cannot run the batch: --engine '${engine}' is not 'local' or 'ray'`);
  }
  if (v.address !== undefined && engine !== "ray") {
    throw new BatchError("Cannot run the batch: --address needs --engine ray");
  }
  return {
    prompts: parsed.positionals[0],
    recipe: resolve(v.recipe),
    out: resolve(v.out),
    variants: parseVariants(v.variant ?? "default"),
    seeds: count(v.seeds, "seeds", 1),
    engine,
    address: v.address,
    workers: count(v.workers, "workers", 1),
    shardSize: v["shard-size"] === undefined ? undefined : count(v["shard-size"], "shard-size", 1),
    retries: count(v.retries, "retries", 3, 0),
    quiet: v.quiet === true,
  };
}

/** The jobs of a batch, each variant's recipe checked to load (so bad input fails before anything runs). */
export async function planBatch(o: BatchOptions): Promise<BatchJob[]> {
  const prompts = await readBatchPrompts(o.prompts);
  let recipeText: string;
  try {
    recipeText = await Deno.readTextFile(o.recipe);
  } catch (e) {
    throw new BatchError(`Cannot read recipe '${o.recipe}': ${(e as Error).message}`);
  }
  const variants: Record<string, Record<string, unknown>> = {};
  let recipe = null;
  const frames = (await loadRecipe(o.recipe, { overrides: { prompt: prompts[0].prompt } })).frames;
  for (const name of o.variants) {
    variants[name] = variantOverrides(name, frames); // a budget sized for 34 frames scales with the clip
    recipe = await loadRecipe(o.recipe, { overrides: { ...variants[name], prompt: prompts[0].prompt } });
  }
  // prompts with expected attributes are analyzed as `deno task eval` does, against the world file
  const world = prompts.some((p) => p.expected)
    ? resolve(findWorldFile(undefined, o.prompts, recipe!.bundle))
    : undefined;
  if (world) await readWorld(world);
  return expandJobs(prompts, {
    recipe: o.recipe,
    recipeText,
    baseSeed: recipe!.seed,
    seeds: o.seeds,
    variants,
    world,
  });
}

/** What a batch run did. */
export interface BatchSummary {
  items: number;
  /** Items run now. */
  ran: number;
  /** Items already in the manifest or finished on disk before this run. */
  skipped: number;
  failed: { item: string | null; error: string }[];
  engine?: EngineRun;
  /** Records written by this run. */
  records: (ManifestRecord & { overheadMs?: number })[];
  seconds: number;
}

/** Read the manifest (rewriting it when its last line was cut short by a killed writer). */
async function readManifest(path: string): Promise<Map<string, ManifestRecord>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return new Map();
    throw new BatchError(`Cannot read the manifest '${path}': ${(e as Error).message}`);
  }
  const { records, cut } = parseManifest(text);
  if (cut) {
    const kept = text.slice(0, text.lastIndexOf("\n") + 1);
    await Deno.writeTextFile(`${path}.tmp`, kept);
    await Deno.rename(`${path}.tmp`, path);
  }
  return records;
}

/**
 * Run a batch: skip what the manifest (or a finished item folder) already holds, run the rest on the
 * engine, append one manifest line per finished item.
 *
 * @example
 * ```ts ignore
 * const s = await runBatch(parseBatchArgs(["p.jsonl", "--recipe", "recipes/default.yaml", "--out", "out/b"]));
 * ```
 */
export async function runBatch(
  o: BatchOptions,
  log: (line: string) => void = () => {},
): Promise<BatchSummary> {
  const t0 = performance.now();
  const jobs = await planBatch(o);
  const manifestPath = `${o.out}/manifest.jsonl`;
  const done = await readManifest(manifestPath);
  const adopted: ManifestRecord[] = [];
  const todo: BatchJob[] = [];
  for (const job of jobs) {
    if (done.has(job.key)) continue;
    const finished = await finishedRecord(o.out, job.name, job.key);
    if (finished) adopted.push(finished);
    else todo.push(job);
  }
  const summary: BatchSummary = {
    items: jobs.length,
    ran: 0,
    skipped: jobs.length - todo.length,
    failed: [],
    records: [],
    seconds: 0,
  };
  if (todo.length === 0 && adopted.length === 0) {
    summary.seconds = (performance.now() - t0) / 1000;
    return summary;
  }
  await Deno.mkdir(o.out, { recursive: true });
  const manifest = await Deno.open(manifestPath, { append: true, create: true });
  const encoder = new TextEncoder();
  const append = async (r: ManifestRecord) => {
    await manifest.write(encoder.encode(JSON.stringify(r) + "\n"));
  };
  try {
    for (const r of adopted) await append(r);
    if (todo.length) {
      const size = o.shardSize ?? Math.max(1, Math.ceil(todo.length / (4 * o.workers)));
      const onResult = async (r: ItemResult) => {
        if (!r.ok) {
          summary.failed.push({ item: r.item, error: r.error });
          log(`batch: ${r.item ?? "item"} failed: ${r.error}`);
          return;
        }
        const { record } = r;
        if (done.has(record.key)) return; // a retried shard's finished item: recorded once
        done.set(record.key, record);
        await append(record);
        summary.ran++;
        summary.records.push({ ...record, overheadMs: r.overheadMs });
        log(
          `batch: ${done.size}/${jobs.length} ${record.item} (${record.worker}, attempt ${record.attempt})`,
        );
      };
      const options = { dir: o.out, workers: o.workers, retries: o.retries, address: o.address, log };
      const shardList = shards(todo, size);
      summary.engine = o.engine === "ray"
        ? await runRay(shardList, options, onResult)
        : await runLocal(shardList, options, onResult);
    }
  } finally {
    manifest.close();
  }
  if (summary.failed.length === 0) {
    for await (const e of Deno.readDir(o.out)) {
      if (e.name.startsWith(".partial-")) {
        await Deno.remove(`${o.out}/${e.name}`, { recursive: true }).catch(() => {});
      }
    }
  }
  summary.seconds = (performance.now() - t0) / 1000;
  return summary;
}

/** Run the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const err = (line: string) => console.error(line);
  let o: BatchOptions | "help";
  try {
    o = parseBatchArgs(args);
  } catch (e) {
    err(`batch: error: ${oneLine(e)}`);
    return 2;
  }
  if (o === "help") {
    console.log(USAGE);
    return 0;
  }
  const opts = o;
  let s: BatchSummary;
  try {
    s = await runBatch(opts, opts.quiet ? undefined : (line) => err(line));
  } catch (e) {
    err(`batch: error: ${oneLine(e)}`);
    return e instanceof OdsoraError ? 2 : 1; // bad input (prompt file, recipe, variant) before any work
  }
  if (s.ran === 0 && s.failed.length === 0 && s.skipped === s.items) {
    console.log(`batch: nothing to do: all ${s.items} items are done (${opts.out}/manifest.jsonl)`);
    return 0;
  }
  if (s.failed.length) {
    const first = s.failed[0];
    err(
      `batch: error: Cannot finish the batch: ${s.failed.length} of ${s.items} items failed (${first.error}); ` +
        `rerun the command to retry them`,
    );
    return 1;
  }
  const rate = s.ran / s.seconds;
  console.log(
    `batch: ${s.items} items done (${s.ran} run now, ${s.skipped} already done) in ${
      s.seconds.toFixed(1)
    } s, ` +
      `${rate.toFixed(2)} clips/s (${opts.engine}, ${opts.workers} worker${opts.workers > 1 ? "s" : ""}); ` +
      `manifest ${opts.out}/manifest.jsonl`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
