/**
 * A contact sheet: one PNG that tiles a clip's frames, one row per variant, so a reader can see what the
 * evaluation's numbers mean (a smeared background, an object that stops, a colour that drifts).
 *
 *   deno task sheet --prompt "a red circle moving left on a black background"
 *       [--recipe recipes/default.yaml] [--variant every|a,b] [--seed 42] [--every 2] [--scale 3]
 *       [--out out/contact_sheet.png]
 *   deno task sheet --prompts eval/prompts.jsonl --item K [--batch 8] ...
 *
 * With `--prompts` and `--item`, the clip is item K of `deno task eval` exactly (its batch of `--batch`
 * prompts and seed: the recipe's seed + batch index), so a report's miss can be looked at.
 * Rows are the variants in the order given (printed with their analysis), columns every `--every`-th frame
 * (the last frame always included), each frame scaled `--scale` times with nearest-neighbour pixels and a
 * 2-pixel magenta gap between tiles.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { frameAt, type Frames, framesFromVideo } from "../runtime/media/frames.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { encodePng } from "../runtime/media/png.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { analyzeClip } from "./analyze.ts";
import { EvalError, readPrompts } from "./prompt_file.ts";
import { parseVariants, variantOverrides } from "./variants.ts";
import { findWorldFile, readWorld, slowestDisplacement } from "./world.ts";
import { builtins } from "../builtins.ts";
import { withFallbackBundle } from "../runtime/cli/fallback_bundle.ts";

/** Usage text of the contact sheet tool. */
export const USAGE = `usage: deno task sheet (--prompt TEXT [--seed N] | --prompts FILE --item K [--batch 8])
       [--recipe recipes/default.yaml] [--variant every|a,b] [--every 2] [--scale 3] [--out out/contact_sheet.png]`;

const GAP = 2;
const GAP_RGB = [255, 0, 255];

/** An RGB image: packed [height, width, 3] bytes. */
export interface Image {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** The frame indices a sheet shows: 0, every, 2·every, ... and always the last frame. */
export function sheetColumns(count: number, every: number): number[] {
  const cols: number[] = [];
  for (let t = 0; t < count; t += every) cols.push(t);
  if (cols[cols.length - 1] !== count - 1) cols.push(count - 1);
  return cols;
}

/**
 * Tile clips (one row each, all of one size) into one image: every `every`-th frame, scaled `scale` times.
 *
 * @example
 * ```ts
 * import { contactSheet } from "./contact_sheet.ts";
 * const clip = { width: 2, height: 2, count: 3, data: new Uint8Array(36) };
 * contactSheet([clip, clip], 2, 1).width; // 2 + 2 + 2 + 2 + 2 = 10 (two columns: frames 0 and 2)
 * ```
 */
export function contactSheet(rows: readonly Frames[], every: number, scale: number): Image {
  const { width: w, height: h, count } = rows[0];
  if (rows.some((r) => r.width !== w || r.height !== h || r.count !== count)) {
    throw new RangeError("Cannot tile clips: every row must have the same frame count and size");
  }
  const cols = sheetColumns(count, every);
  const tw = w * scale, th = h * scale;
  const width = GAP + cols.length * (tw + GAP), height = GAP + rows.length * (th + GAP);
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.set(GAP_RGB, p * 3);
  rows.forEach((clip, r) => {
    cols.forEach((t, c) => {
      const frame = frameAt(clip, t);
      const ox = GAP + c * (tw + GAP), oy = GAP + r * (th + GAP);
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) {
          const s = (Math.floor(y / scale) * w + Math.floor(x / scale)) * 3;
          rgb.set(frame.subarray(s, s + 3), ((oy + y) * width + ox + x) * 3);
        }
      }
    });
  });
  return { width, height, rgb };
}

/** The prompts of the run, its seed and the sample to show: one prompt, or item K of an eval prompt file. */
async function whichClip(
  values: { prompt?: string; prompts?: string; item?: string; seed?: string },
  batch: number,
  recipeSeed: number,
): Promise<{ prompts: string[]; seed: number; index: number }> {
  if (values.prompts !== undefined) {
    const all = await readPrompts(values.prompts);
    const k = Number(values.item);
    if (!Number.isInteger(k) || k < 0 || k >= all.length) {
      throw new EvalError(
        `Cannot draw a contact sheet: --item '${values.item}' is not an item of ${values.prompts}`,
      );
    }
    const start = k - (k % batch);
    return {
      prompts: all.slice(start, start + batch).map((p) => p.prompt),
      seed: recipeSeed + start / batch,
      index: k - start,
    };
  }
  if (!values.prompt) {
    throw new EvalError("Cannot draw a contact sheet: give --prompt, or --prompts and --item");
  }
  const seed = values.seed === undefined ? recipeSeed : Number(values.seed);
  if (!Number.isInteger(seed)) {
    throw new EvalError(`Cannot draw a contact sheet: --seed '${values.seed}' is not an integer`);
  }
  return { prompts: [values.prompt], seed, index: 0 };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      prompt: { type: "string" },
      prompts: { type: "string" },
      item: { type: "string" },
      batch: { type: "string", default: "8" },
      recipe: { type: "string", default: "recipes/default.yaml" },
      variant: { type: "string", default: "every" },
      seed: { type: "string" },
      every: { type: "string", default: "2" },
      scale: { type: "string", default: "3" },
      out: { type: "string", default: "out/contact_sheet.png" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const every = Number(values.every), scale = Number(values.scale), batch = Number(values.batch);
  for (const [k, v] of [["every", every], ["scale", scale], ["batch", batch]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new EvalError(`Cannot draw a contact sheet: --${k} '${values[k]}' is not a positive integer`);
    }
  }
  const variants = parseVariants(values.variant!);
  const base = await loadRecipe(values.recipe!);
  const pick = await whichClip(values, batch, base.seed);
  const world = await readWorld(findWorldFile(undefined, values.recipe!, base.bundle));
  const out = await Deno.makeTempDir({ prefix: "odsora_sheet_" });
  const rows: Frames[] = [];
  try {
    for (const v of variants) {
      const run = await loadRecipe(values.recipe!, {
        overrides: {
          ...variantOverrides(v, base.frames),
          prompt: undefined,
          prompts: pick.prompts,
          seed: pick.seed,
          "output.dir": out,
          "output.formats": ["png"],
        },
      });
      const clip = framesFromVideo(
        (await generate(await withFallbackBundle(run, () => {}), { registry: builtins })).video,
        pick.index,
      );
      const slowest = slowestDisplacement(world, clip.count);
      const a = analyzeClip(clip, { minDisplacement: slowest / 2 });
      console.log(
        `row ${rows.length}: ${v.padEnd(8)} ${a.color} ${a.shape} ${a.motion} on ${a.background} ` +
          `(displacement ${a.displacement.map((d) => d.toFixed(1)).join(", ")} px of slowest ${slowest}; ` +
          `border ${a.backgroundRgb.map((c) => Math.round(c)).join("/")}, foreign ${
            (100 * a.foreignShare).toFixed(1)
          }%; consistency object ${a.consistency.object.toFixed(2)} background ${
            a.consistency.background.toFixed(2)
          })`,
      );
      rows.push(clip);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
  const sheet = contactSheet(rows, every, scale);
  await Deno.writeFile(values.out!, encodePng(sheet.rgb, sheet.width, sheet.height));
  console.log(`wrote ${values.out} (columns: frames ${sheetColumns(rows[0].count, every).join(", ")})`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`contact_sheet: error: ${(e as Error).message}`);
    Deno.exit(e instanceof EvalError || e instanceof TypeError ? 2 : 1);
  }
}
