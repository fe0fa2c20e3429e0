/**
 * `deno task calibrate`: fit TeaCache's rescaling polynomial for a recipe's bundle. Every call of a fully
 * computed denoise (Euler, no reuse) over training prompts records the relative L1 change of the first
 * block's modulated input (x) and of the middle blocks' residual (y) against the previous call; a
 * degree-4 least-squares fit y ≈ p(x) is printed as a recipe option line, and with `--write` saved as the
 * `teacache` built-in's default (plugins/step_cache/teacache_fit.json, only for the default model).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadBundle, stageOf } from "../../runtime/bundle/bundle.ts";
import { denoise } from "../../runtime/core/denoise.ts";
import { local } from "../../runtime/local/executor_local.ts";
import { resolveBundleDir } from "../../runtime/cli/fallback_bundle.ts";
import { loadRecipe } from "../../runtime/recipe/recipe.ts";
import { instantiate } from "../../runtime/core/registry.ts";
import { gaussianNoise } from "../../runtime/core/rng.ts";
import { openStage } from "../../runtime/core/stage.ts";
import { encodeText } from "../../runtime/pipeline/text_stage.ts";
import type { StepCache } from "../../runtime/core/types.ts";
import { videoSize } from "../../runtime/pipeline/video_size.ts";
import { euler } from "../../samplers/euler.ts";
import { resident } from "../../schedulers/resident.ts";
import { readPrompts } from "../../eval/prompt_file.ts";
import { meanFitError, polyfit } from "./fit.ts";
import { condHalf, modulatedInput, relL1 } from "./signals.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = resolve(HERE, "..", "..");
const FIT_FILE = join(HERE, "teacache_fit.json");

/** Usage of `deno task calibrate`. */
export const USAGE =
  `usage: deno task calibrate [RECIPE] [--prompts eval/prompts.jsonl] [--count 8] [--degree 4]
                           [--write] [--help]

Fits TeaCache's rescaling polynomial for the recipe's bundle (default recipes/default.yaml) on the first
--count training (not held-out) prompts of --prompts, evenly spread, and prints it as a 'step_cache' recipe line.
--write saves it as the teacache built-in's default (${FIT_FILE.slice(ROOT.length + 1)}); only for the
default model's bundle (models/default).`;

/** One calibration sample: input change x, residual change y, at a step. */
export interface Sample {
  step: number;
  x: number;
  y: number;
}

/** A step cache that never reuses and records (x, y) between consecutive computed calls. */
export function recorder(samples: Sample[]): StepCache {
  let input: Float32Array | null = null;
  let previous: { input: Float32Array; residual: Float32Array } | null = null;
  return {
    name: "teacache-calibration",
    kind: "step-cache",
    decide(q) {
      input = modulatedInput(q.signals);
      return { reuse: false, reason: "calibrating: every call computed" };
    },
    update(q, residual) {
      const r = condHalf(residual);
      if (previous && input) {
        samples.push({ step: q.step, x: relL1(input, previous.input), y: relL1(r, previous.residual) });
      }
      previous = { input: input!, residual: r };
    },
  };
}

/** Run the calibration; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      prompts: { type: "string", default: join(ROOT, "eval", "prompts.jsonl") },
      count: { type: "string", default: "8" },
      degree: { type: "string", default: "4" },
      write: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const count = Number(values.count);
  const degree = Number(values.degree);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(degree) || degree < 1 || degree > 8) {
    throw new Error(
      `Cannot calibrate: --count '${values.count}' and --degree '${values.degree}' must be integers ≥ 1 (degree ≤ 8)`,
    );
  }
  if (positionals.length > 1) {
    throw new Error(`Cannot calibrate: one recipe at most, got '${positionals.join("', '")}'`);
  }
  const recipe = await loadRecipe(positionals[0] ?? join(ROOT, "recipes", "default.yaml"));
  const training = (await readPrompts(values.prompts!)).filter((p) => !p.heldout);
  const stride = Math.max(1, Math.floor(training.length / count)); // spread over colours, shapes, motions
  const prompts = training.filter((_, i) => i % stride === 0).slice(0, count);
  const bundle = await loadBundle(await resolveBundleDir(recipe, (m) => console.error(`warning: ${m}`)));
  const isDefault = resolve(bundle.dir) === resolve(ROOT, "models", "default");
  if (values.write && !isDefault) {
    throw new Error(
      `Cannot write the default polynomial: bundle '${bundle.dir}' is not models/default (use the printed line)`,
    );
  }
  const size = videoSize(recipe, bundle, () => {});
  const executor = local.create(local.options.parse({ threads: 1 }));
  const samples: Sample[] = [];
  try {
    for (const [i, p] of prompts.entries()) {
      const scheduler = instantiate(resident);
      const text = await encodeText({
        bundle,
        prompts: [p.prompt],
        executor,
        scheduler,
        budget: { bytes: null },
        emit: () => {},
      });
      const runner = await openStage({
        bundle,
        stage: "denoiser",
        executor,
        scheduler,
        budget: { bytes: null },
        passes: size.timesteps.length,
        emit: () => {},
      });
      try {
        await denoise({
          bundle,
          runner,
          sampler: instantiate(euler),
          tokenOps: [],
          stepCache: recorder(samples),
          noise: gaussianNoise([1, ...size.latentDims.slice(1)], recipe.seed + i),
          y: text.y,
          yMask: text.mask,
          yNull: text.yNull,
          cfgScale: recipe.cfg,
          timesteps: size.timesteps,
          fps: size.fps,
          height: size.height,
          width: size.width,
          emit: () => {},
        });
      } finally {
        await runner.close();
      }
      console.error(`calibrate: ${i + 1}/${prompts.length} '${p.prompt}'`);
    }
  } finally {
    await executor.close();
  }
  const xs = samples.map((s) => s.x);
  const ys = samples.map((s) => s.y);
  const coefficients = polyfit(xs, ys, degree);
  const error = meanFitError(coefficients, xs, ys);
  const meanY = ys.reduce((a, b) => a + b, 0) / ys.length;
  const fit = {
    schema: "odsora.teacache-fit/1",
    bundle: bundle.name,
    denoiserBlocks: stageOf(bundle, "denoiser").blocks.length,
    recipe: recipe.file ? relative(ROOT, recipe.file) : null,
    prompts: prompts.length,
    steps: size.timesteps.length,
    samples: samples.length,
    degree,
    coefficients,
    meanAbsError: error,
    meanResidualChange: meanY,
    xRange: [Math.min(...xs), Math.max(...xs)],
  };
  const list = coefficients.map((c) => c.toPrecision(8)).join(", ");
  const maxChange = Math.max(...xs).toPrecision(4);
  console.log(
    `step_cache: { name: teacache, threshold: 0.3, coefficients: [${list}], maxChange: ${maxChange} }`,
  );
  console.log(
    `# ${samples.length} samples over ${prompts.length} prompts; mean |error| ${error.toFixed(4)} (mean y ${
      meanY.toFixed(4)
    })`,
  );
  if (values.write) {
    const tmp = `${FIT_FILE}.tmp-${Deno.pid}`;
    await Deno.writeTextFile(tmp, JSON.stringify(fit, null, 2) + "\n");
    await Deno.rename(tmp, FIT_FILE);
    console.log(`# wrote ${FIT_FILE.slice(ROOT.length + 1)}`);
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`calibrate: ${(e as Error).message.split("\n")[0]}`);
    Deno.exit(1);
  }
}
