/**
 * `deno task eval`: generate a video for every prompt of a prompt file with a recipe (and its technique
 * variants), let the analyzer read colour, shape and motion from the pixels, and report the accuracy.
 *
 *   deno task eval [--prompts eval/prompts.jsonl] [--recipe recipes/default.yaml]
 *                  [--variant default|lpl-15|tdtm-15|all|every|a,b] [--out eval/report.json] [--batch 8]
 *
 * eval/report.json: {"recipe", "variant", "n", "accuracy": {color, shape, motion}, "heldout_accuracy",
 * "seconds_per_clip", "items": [...]} for the first variant, plus "variants": the same summary (without
 * items) for every variant, side by side.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { framesFromVideo } from "../runtime/frames.ts";
import { generate } from "../runtime/pipeline.ts";
import { loadRecipe } from "../runtime/recipe.ts";
import { writeTextAtomic } from "./_write.ts";
import { analyzeClip } from "./analyze.ts";
import { type EvalPrompt, readPrompts } from "./prompt_file.ts";
import { type Accuracy, accuracy, type ScoredItem, scoreItem } from "./score.ts";
import { parseVariants, VARIANTS } from "./variants.ts";
import { builtins } from "../builtins.ts";
import { withFallbackBundle } from "../runtime/fallback_bundle.ts";

/** The evaluation of one recipe variant. */
export interface VariantReport {
  recipe: string;
  variant: string;
  n: number;
  accuracy: Accuracy;
  heldout_accuracy: Accuracy;
  seconds_per_clip: number;
  items: ScoredItem[];
}

/** Generate and score every prompt with `recipe` under `variant`, `batch` prompts a run (seed + chunk index). */
export async function evaluate(
  prompts: readonly EvalPrompt[],
  recipe: string,
  variant: string,
  options: { batch?: number; log?: (line: string) => void } = {},
): Promise<VariantReport> {
  const batch = options.batch ?? 8;
  const base = await loadRecipe(recipe);
  const items: ScoredItem[] = [];
  const out = await Deno.makeTempDir({ prefix: "odsora_eval_" });
  let seconds = 0;
  try {
    for (let start = 0; start < prompts.length; start += batch) {
      const chunk = prompts.slice(start, start + batch);
      const run = await loadRecipe(recipe, {
        overrides: {
          ...VARIANTS[variant],
          prompt: undefined,
          prompts: chunk.map((p) => p.prompt),
          seed: base.seed + start / batch,
          "output.dir": out,
          "output.name": `chunk_${start}`,
          "output.formats": ["png"],
        },
      });
      const t0 = performance.now();
      const result = await generate(await withFallbackBundle(run, () => {}), { registry: builtins });
      seconds += (performance.now() - t0) / 1000;
      chunk.forEach((p, i) => {
        const got = analyzeClip(framesFromVideo(result.video, i));
        items.push(scoreItem(p.prompt, p.heldout, { color: p.color, shape: p.shape, motion: p.motion }, got));
      });
      options.log?.(`${variant}: ${items.length}/${prompts.length} clips`);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
  return {
    recipe,
    variant,
    n: items.length,
    accuracy: accuracy(items),
    heldout_accuracy: accuracy(items.filter((i) => i.heldout)),
    seconds_per_clip: seconds / Math.max(items.length, 1),
    items,
  };
}

const pct = (v: number | null) => (v === null ? "   -" : `${(100 * v).toFixed(0).padStart(3)}%`);

/** One table row: variant, n, accuracy (all and held-out), seconds per clip. */
export function formatRow(r: VariantReport): string {
  const a = r.accuracy, h = r.heldout_accuracy;
  return `${r.variant.padEnd(8)} ${String(r.n).padStart(3)}  ${pct(a.color)} ${pct(a.shape)} ${
    pct(a.motion)
  }` +
    `   ${pct(h.color)} ${pct(h.shape)} ${pct(h.motion)}   ${r.seconds_per_clip.toFixed(2)}`;
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
    },
    strict: true,
  });
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1) {
    console.error(`eval: error: Cannot evaluate: --batch '${values.batch}' is not a positive integer`);
    return 2;
  }
  const variants = parseVariants(values.variant!);
  const prompts = await readPrompts(values.prompts!);
  const reports: VariantReport[] = [];
  for (const v of variants) {
    reports.push(await evaluate(prompts, values.recipe!, v, { batch, log: (l) => console.error(l) }));
  }
  console.log(`variant    n   color shape motion | held-out: color shape motion | s/clip`);
  for (const r of reports) console.log(formatRow(r));
  const summary = reports.map(({ items: _items, ...rest }) => rest);
  await writeTextAtomic(values.out!, JSON.stringify({ ...reports[0], variants: summary }, null, 2) + "\n");
  console.log(`wrote ${values.out}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`eval: error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
