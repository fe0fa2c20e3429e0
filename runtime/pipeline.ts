/**
 * `generate()`: one run of a recipe, with one-way data flow — prompt → tokens → text stage → denoise
 * (sampler, token ops, CFG) → VAE stage → video files + JSON report. Every stage runs its blocks through
 * the recipe's memory scheduler on the recipe's executor. Outputs are staged and only moved into place
 * when everything succeeded; a failure or cancellation leaves no files behind.
 *
 * @module
 */
import { loadBundle, stageOf } from "./bundle.ts";
import { denoise } from "./denoise.ts";
import { OdsoraError } from "./errors.ts";
import { resolveBundleDir } from "./fallback_bundle.ts";
import { peakRssBytes } from "./memory.ts";
import { openStaging, stageJson, stageVideos } from "./outputs.ts";
import type { Recipe } from "./recipe.ts";
import { resolveRecipePlugin, resolveRecipePlugins, stageBudget } from "./recipe_plugins.ts";
import { createReport } from "./report.ts";
import { gaussianNoise } from "./rng.ts";
import { openStage } from "./stage.ts";
import { encodeText } from "./text_stage.ts";
import type { Emit, PluginKinds, StageName, Tensor } from "./types.ts";
import { decodeVideo } from "./vae_stage.ts";
import { planVideo } from "./video_size.ts";
import { withPreview } from "./preview.ts";
import { denoiserWorkBytes } from "./work_estimate.ts";

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** Receives every run event (progress bar, UI). */
  emit?: Emit;
  /** Cancels the run between blocks; nothing is written. */
  signal?: AbortSignal;
  /** Receives warnings (a truncated prompt, a size the VAE rounds down). */
  warn?: (message: string) => void;
}

/** What a finished run produced. */
export interface RunResult {
  /** Per prompt, the path of each written format (`mp4`, `gif`, `png` = a folder of frames). */
  outputs: Record<string, string>[];
  /** The JSON report's path. */
  report: string;
  /** The decoded video [n, 3, F, H, W] in about [−1, 1]. */
  video: Tensor<"float32">;
  /** Model calls the sampler made. */
  calls: number;
  warnings: string[];
}

/**
 * Run a recipe end to end.
 *
 * @example
 * ```ts ignore
 * import { loadRecipe } from "./recipe.ts";
 * import { generate } from "./pipeline.ts";
 * const result = await generate(await loadRecipe("recipes/default.yaml"), { emit: console.log });
 * console.log(result.outputs[0].mp4);
 * ```
 */
export async function generate(recipe: Recipe, options: GenerateOptions = {}): Promise<RunResult> {
  const origin = performance.now();
  const report = createReport(origin);
  const emit: Emit = (e) => {
    report.emit(e);
    options.emit?.(e);
  };
  const warn = (m: string) => {
    report.warn(m);
    options.warn?.(m);
  };
  const { signal } = options;
  const bundle = await loadBundle(await resolveBundleDir(recipe, warn));
  for (const s of ["text", "denoiser", "vae"] as const) stageOf(bundle, s);
  const size = planVideo(recipe, bundle, warn);
  const { sampler, tokenOps, stepCache, scheduler } = await resolveRecipePlugins(recipe);
  const staging = await openStaging(recipe.output.dir);
  let executor: PluginKinds["executor"] | null = null;
  try {
    executor = await resolveRecipePlugin(recipe, "executor", recipe.executor, ["executor"]);
    // no budget in the recipe: plan against the memory the executor's device offers, if it says
    const offered = recipe.budget === null && executor.defaultBudget ? await executor.defaultBudget() : null;
    report.setBudgetSource(
      offered
        ? { from: "executor", ...offered.source }
        : { from: recipe.budget === null ? "none" : "recipe" },
    );
    const budget = (stage: StageName) =>
      offered
        ? { bytes: offered.bytes }
        : stageBudget(recipe, stageOf(bundle, stage).blocks.reduce((a, b) => a + b.bytes, 0));
    const common = { executor, scheduler, emit, signal, origin };
    emit({
      type: "run",
      status: "start",
      recipe: recipe.file ?? "<recipe>",
      bundle: bundle.dir,
      prompt: recipe.prompts.join(" | "),
      at: 0,
    });
    const at = () => performance.now() - origin;

    emit({ type: "stage", stage: "text", status: "start", at: at() });
    const text = await encodeText({
      ...common,
      bundle,
      prompts: recipe.prompts,
      budget: budget("text"),
      warn,
    });
    report.addPlan("text", text.plan);
    emit({ type: "stage", stage: "text", status: "end", at: at() });

    signal?.throwIfAborted();
    emit({ type: "stage", stage: "denoiser", status: "start", at: at() });
    const runner = await openStage({
      ...common,
      bundle,
      stage: "denoiser",
      budget: budget("denoiser"),
      passes: recipe.steps,
      workBytes: denoiserWorkBytes(stageOf(bundle, "denoiser"), {
        batch: 2 * recipe.prompts.length,
        t: size.latentDims[2],
        h: size.latentDims[3],
        w: size.latentDims[4],
        textLength: text.y.dims[1],
      }),
    });
    report.addPlan("denoiser", runner.plan);
    let denoised: { latent: Tensor<"float32">; calls: number };
    try {
      denoised = await denoise({
        bundle,
        runner,
        // previews of the predicted clean latent when the bundle has a latent → RGB map
        sampler: bundle.preview
          ? withPreview(sampler, bundle.preview, emit, { scale: stageOf(bundle, "vae").spatial_factor })
          : sampler,
        tokenOps,
        stepCache,
        noise: gaussianNoise(size.latentDims, recipe.seed),
        y: text.y,
        yMask: text.mask,
        yNull: text.yNull,
        cfgScale: recipe.cfg,
        timesteps: size.timesteps,
        fps: size.fps,
        height: size.height,
        width: size.width,
        emit,
        signal,
      });
    } finally {
      await runner.close();
    }
    emit({ type: "stage", stage: "denoiser", status: "end", at: at() });

    signal?.throwIfAborted();
    emit({ type: "stage", stage: "vae", status: "start", at: at() });
    const decoded = await decodeVideo({
      ...common,
      bundle,
      latent: denoised.latent,
      frames: size.frames,
      budget: budget("vae"),
    });
    for (const plan of decoded.plans) report.addPlan("vae", plan);
    emit({ type: "stage", stage: "vae", status: "end", at: at() });
    if (decoded.video.dims[1] !== 3) {
      throw new OdsoraError(
        `Cannot save video: bundle '${bundle.name}' decodes to '${decoded.video.dims[1]}' channels, not RGB`,
      );
    }

    signal?.throwIfAborted();
    const outputs = await stageVideos(staging, decoded.video, { ...recipe.output, fps: size.fps });
    const { locate: _locate, ...recipeData } = recipe;
    const reportPath = await stageJson(
      staging,
      `${recipe.output.name}.json`,
      report.build({
        recipe: recipeData,
        bundle: { name: bundle.name, dir: bundle.dir, family: bundle.family, source: bundle.source },
        prompts: recipe.prompts,
        seed: recipe.seed,
        video: { height: size.decodedHeight, width: size.decodedWidth, frames: size.frames, fps: size.fps },
        timesteps: size.timesteps,
        calls: denoised.calls,
        outputs,
        peakRssBytes: peakRssBytes(),
      }),
    );
    signal?.throwIfAborted();
    await staging.commit();
    emit({ type: "done", video: outputs[0].mp4 ?? null, gif: outputs[0].gif ?? null, report: reportPath });
    return {
      outputs,
      report: reportPath,
      video: decoded.video,
      calls: denoised.calls,
      warnings: [...report.warnings],
    };
  } catch (e) {
    await staging.discard();
    throw e;
  } finally {
    await executor?.close();
  }
}
