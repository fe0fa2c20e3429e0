/**
 * `deno task eval`: generate a video for every prompt of a prompt file with a recipe (and its technique
 * variants), let the analyzer read colour, shape, motion and background from the pixels, and report the
 * strict accuracy, the motion ratio, the temporal consistency and the fidelity to the `default` variant.
 *
 * eval/report.json: {"recipe", "variant", "n", "accuracy": {color, shape, motion, background},
 * "heldout_accuracy", "seconds_per_clip", "items": [...]} for the first variant, plus "variants": one entry
 * per variant, each with the same fields plus "motion_ratio" (median), "consistency": {object, background}
 * (means), "fidelity": {ssim, psnr} (means against the default variant's clips; null for default) and its
 * own "items".
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Frames, framesFromVideo } from "../runtime/media/frames.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { generateRemote } from "../batch/remote.ts";
import { writeTextAtomic } from "./write_atomic.ts";
import { analyzeClip } from "./analyze.ts";
import { clipPsnr, clipSsim } from "./fidelity.ts";
import { EvalError, type EvalPrompt, readPrompts } from "./prompt_file.ts";
import { type Accuracy, accuracy, mean, median, type ScoredItem, scoreItem } from "./score.ts";
import { parseVariants, variantOverrides, VARIANTS } from "./variants.ts";
import { builtins } from "../builtins.ts";
import { withFallbackBundle } from "../runtime/cli/fallback_bundle.ts";
import { findWorldFile, readWorld, slowestDisplacement, type World } from "./world.ts";

/** Usage text of `deno task eval`. */
export const USAGE = `usage: deno task eval [--prompts eval/prompts.jsonl] [--recipe recipes/default.yaml]
                      [--variant ${Object.keys(VARIANTS).join("|")}|every|a,b]
                      [--out eval/report.json]
                      [--batch 8] [--world FILE] [--engine inline|local|ray] [--workers N]
                      [--address ADDR] [--help]

Generates one clip per prompt and variant and scores colour, shape, motion and background from the pixels.
Motion counts only when the object moved at least half the world's slowest displacement over the clip
(world.json: --world, else beside the prompt file, else in the recipe's bundle). Every non-default variant
is also compared with the default variant's clip of the same prompt and seed (SSIM, PSNR); the default
variant runs first as that reference even when not asked for. --engine local|ray runs the same chunks
(same prompts and seeds, so the same clips) on \`deno task batch\`'s worker processes or on Ray (a local
instance on 127.0.0.1, or the cluster at --address); inline (default) runs them in this process.`;

/** The clips of one variant and the seconds generation took. */
export interface VariantClips {
  variant: string;
  clips: Frames[];
  seconds: number;
}

/** The evaluation of one recipe variant. */
export interface VariantReport {
  recipe: string;
  variant: string;
  n: number;
  accuracy: Accuracy;
  heldout_accuracy: Accuracy;
  /** Median displacement along the asked direction / the world's slowest (null when no clip moves). */
  motion_ratio: number | null;
  consistency: { object: number | null; background: number | null };
  fidelity: { ssim: number | null; psnr: number | null } | null;
  seconds_per_clip: number;
  items: ScoredItem[];
}

/** The recipe overrides of one chunk of prompts under `variant` (its seed: the recipe's + chunk index). */
function chunkOverrides(
  variant: string,
  frames: number | null,
  chunk: readonly EvalPrompt[],
  seed: number,
  out: string,
  start: number,
): Record<string, unknown> {
  return {
    ...variantOverrides(variant, frames),
    prompt: undefined,
    prompts: chunk.map((p) => p.prompt),
    seed,
    "output.dir": out,
    "output.name": `chunk_${start}`,
    "output.formats": ["png"],
  };
}

/** Where the clips are generated: in this process (default) or on a batch engine (`local` / `ray`). */
export interface EvalEngine {
  engine?: "inline" | "local" | "ray";
  workers?: number;
  address?: string;
}

/**
 * The same chunks as {@link generateClips} for every variant at once, run on a batch engine (worker
 * processes here, or Ray): the same recipe, prompts and seeds, so the same clips.
 */
export async function generateClipsRemote(
  prompts: readonly EvalPrompt[],
  recipe: string,
  variants: readonly string[],
  options: { batch?: number; log?: (line: string) => void } & EvalEngine,
): Promise<Map<string, VariantClips>> {
  const batch = options.batch ?? 8;
  const base = await loadRecipe(recipe);
  const runs = variants.flatMap((variant) => {
    const chunks = [];
    for (let start = 0; start < prompts.length; start += batch) {
      const chunk = prompts.slice(start, start + batch);
      chunks.push({
        recipe,
        overrides: chunkOverrides(variant, base.frames, chunk, base.seed + start / batch, ".", start),
      });
    }
    return chunks;
  });
  const results = await generateRemote(runs, {
    engine: options.engine === "ray" ? "ray" : "local",
    workers: options.workers,
    address: options.address,
    log: options.log,
  });
  const out = new Map<string, VariantClips>();
  let next = 0;
  for (const variant of variants) {
    const clips: Frames[] = [];
    let seconds = 0;
    for (let start = 0; start < prompts.length; start += batch) {
      const r = results[next++];
      seconds += r.seconds;
      for (let i = 0; i < r.video.dims[0]; i++) clips.push(framesFromVideo(r.video, i));
    }
    out.set(variant, { variant, clips, seconds });
  }
  return out;
}

/** Generate a clip for every prompt with `recipe` under `variant`, `batch` prompts a run (seed + chunk index). */
export async function generateClips(
  prompts: readonly EvalPrompt[],
  recipe: string,
  variant: string,
  options: { batch?: number; log?: (line: string) => void } = {},
): Promise<VariantClips> {
  const batch = options.batch ?? 8;
  const base = await loadRecipe(recipe);
  const clips: Frames[] = [];
  const out = await Deno.makeTempDir({ prefix: "odsora_eval_" });
  let seconds = 0;
  try {
    for (let start = 0; start < prompts.length; start += batch) {
      const chunk = prompts.slice(start, start + batch);
      const run = await loadRecipe(recipe, {
        overrides: chunkOverrides(variant, base.frames, chunk, base.seed + start / batch, out, start),
      });
      const t0 = performance.now();
      const result = await generate(await withFallbackBundle(run, () => {}), { registry: builtins });
      seconds += (performance.now() - t0) / 1000;
      chunk.forEach((_, i) => clips.push(framesFromVideo(result.video, i)));
      options.log?.(`${variant}: ${clips.length}/${prompts.length} clips`);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
  return { variant, clips, seconds };
}

const round = (v: number | null, digits = 4) => (v === null ? null : Number(v.toFixed(digits)));

/** Score one variant's clips; `reference` (the default variant's clips) adds fidelity per item. */
export function scoreVariant(
  prompts: readonly EvalPrompt[],
  run: VariantClips,
  recipe: string,
  world: World,
  reference: readonly Frames[] | null,
): VariantReport {
  const items = run.clips.map((clip, i) => {
    const p = prompts[i];
    const slowest = slowestDisplacement(world, clip.count);
    const got = analyzeClip(clip, { minDisplacement: slowest / 2 });
    const expected: Record<string, string> = { color: p.color, shape: p.shape, motion: p.motion };
    if (p.background) expected.background = p.background;
    const item = scoreItem(p.prompt, p.heldout, expected, got, slowest);
    item.fidelity = reference
      ? { ssim: round(clipSsim(clip, reference[i]))!, psnr: round(clipPsnr(clip, reference[i]), 2)! }
      : null;
    return item;
  });
  const fid = items.map((i) => i.fidelity).filter((f) => f) as { ssim: number; psnr: number }[];
  return {
    recipe,
    variant: run.variant,
    n: items.length,
    accuracy: accuracy(items),
    heldout_accuracy: accuracy(items.filter((i) => i.heldout)),
    motion_ratio: round(median(items.map((i) => i.motion_ratio))),
    consistency: {
      object: round(mean(items.map((i) => i.consistency.object))),
      background: round(mean(items.map((i) => i.consistency.background))),
    },
    fidelity: reference
      ? { ssim: round(mean(fid.map((f) => f.ssim))), psnr: round(mean(fid.map((f) => f.psnr)), 2) }
      : null,
    seconds_per_clip: run.seconds / Math.max(items.length, 1),
    items,
  };
}

/**
 * Evaluate `variants` on `prompts`: the default variant runs first (it is the fidelity reference of the
 * others); only the variants asked for are returned, in the order asked.
 */
export async function evaluate(
  prompts: readonly EvalPrompt[],
  recipe: string,
  variants: readonly string[],
  world: World,
  options: { batch?: number; log?: (line: string) => void } & EvalEngine = {},
): Promise<VariantReport[]> {
  const remote = options.engine && options.engine !== "inline"
    ? await generateClipsRemote(prompts, recipe, [...new Set(["default", ...variants])], options)
    : null;
  const reference = remote?.get("default") ?? await generateClips(prompts, recipe, "default", options);
  const reports: VariantReport[] = [];
  for (const v of variants) {
    const run = v === "default"
      ? reference
      : remote?.get(v) ?? await generateClips(prompts, recipe, v, options);
    reports.push(scoreVariant(prompts, run, recipe, world, v === "default" ? null : reference.clips));
  }
  return reports;
}

const pct = (v: number | null) => (v === null ? "   -" : `${(100 * v).toFixed(0).padStart(3)}%`);
const num = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? "   -" : v.toFixed(d));

/** One table row: variant, n, accuracy (all, held-out), motion ratio, consistency, fidelity, s/clip. */
export function formatRow(r: VariantReport): string {
  const a = r.accuracy, h = r.heldout_accuracy;
  return [
    r.variant.padEnd(8),
    String(r.n).padStart(3),
    ` ${pct(a.color)} ${pct(a.shape)} ${pct(a.motion)} ${pct(a.background)}`,
    ` ${pct(h.color)} ${pct(h.shape)} ${pct(h.motion)} ${pct(h.background)}`,
    ` ${num(r.motion_ratio)}`,
    ` ${num(r.consistency.object)} ${num(r.consistency.background)}`,
    ` ${num(r.fidelity?.ssim, 3)} ${num(r.fidelity?.psnr, 1)}`,
    ` ${r.seconds_per_clip.toFixed(2)}`,
  ].join(" ");
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      prompts: { type: "string", default: "eval/prompts.jsonl" },
      recipe: { type: "string", default: "recipes/default.yaml" },
      variant: { type: "string", default: "default" },
      out: { type: "string", default: "eval/report.json" },
      batch: { type: "string", default: "8" },
      world: { type: "string" },
      engine: { type: "string", default: "inline" },
      workers: { type: "string", default: "1" },
      address: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1) {
    throw new EvalError(`Cannot evaluate: --batch '${values.batch}' is not a positive integer`);
  }
  const engine = values.engine!;
  if (engine !== "inline" && engine !== "local" && engine !== "ray") {
    throw new EvalError(`Cannot evaluate: --engine '${engine}' is not 'inline', 'local' or 'ray'`);
  }
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) {
    throw new EvalError(`Cannot evaluate: --workers '${values.workers}' is not a positive integer`);
  }
  if (values.address !== undefined && engine !== "ray") {
    throw new EvalError("Cannot evaluate: --address needs --engine ray");
  }
  const variants = parseVariants(values.variant!);
  const prompts = await readPrompts(values.prompts!);
  const base = await loadRecipe(values.recipe!);
  const world = await readWorld(findWorldFile(values.world, values.prompts!, base.bundle));
  const reports = await evaluate(prompts, values.recipe!, variants, world, {
    batch,
    log: (l) => console.error(l),
    engine,
    workers,
    address: values.address,
  });
  console.log(
    "variant    n   color shape motion backgr | held-out: color shape motion backgr | motion ratio | " +
      "consistency obj bg | fidelity ssim psnr | s/clip",
  );
  for (const r of reports) console.log(formatRow(r));
  await writeTextAtomic(values.out!, JSON.stringify({ ...reports[0], variants: reports }) + "\n");
  console.log(`wrote ${values.out}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`eval: error: ${(e as Error).message}`);
    Deno.exit(e instanceof EvalError || e instanceof TypeError ? 2 : 1);
  }
}
