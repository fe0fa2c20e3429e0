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
import { resolveRecipePlugin, resolveRecipePlugins, runBudgets } from "./recipe_plugins.ts";
import { adaptiveStage, openStageMemory, RunMemory } from "./run_memory.ts";
import { BudgetError, formatBytes } from "./errors.ts";
import { textStageInfo } from "./text_stage.ts";
import { vaeStageInfos } from "./vae_stage.ts";
import { createReport } from "./report.ts";
import { gaussianNoise } from "./rng.ts";
import { openStage } from "./stage.ts";
import { encodeText } from "./text_stage.ts";
import type { Budget, Emit, MemoryScheduler, PluginKinds, StageInfo, StageName, Tensor } from "./types.ts";
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
  const bytesOf = (stage: StageName) => stageOf(bundle, stage).blocks.reduce((a, b) => a + b.bytes, 0);
  const stageBytes = { text: bytesOf("text"), denoiser: bytesOf("denoiser"), vae: bytesOf("vae") };
  const budgets = runBudgets(recipe, stageBytes);
  const memory = new RunMemory(budgets.run);
  const staging = await openStaging(recipe.output.dir);
  let executor: PluginKinds["executor"] | null = null;
  try {
    executor = await resolveRecipePlugin(recipe, "executor", recipe.executor, ["executor"]);
    const ex = executor;
    const startLanes = (lanes: number) => memory.startLanes(ex, lanes);
    const common = { executor, scheduler, emit, signal, origin, startLanes };
    // No budget in the recipe: plan each stage against the memory the executor's device offers, if it says
    // (that memory is the device's, not this process's: the run's own accounting does not apply).
    const unbudgeted = recipe.budget === null && Object.keys(budgets.stages).length === 0;
    const offered = unbudgeted && executor.defaultBudget ? await executor.defaultBudget() : null;
    report.setBudgetSource(
      offered ? { from: "executor", ...offered.source } : { from: unbudgeted ? "none" : "recipe" },
    );
    const budgetFor = (stageMemory: { budgetFor(fixed: number): Budget }) => (fixed: number): Budget =>
      offered ? { bytes: offered.bytes } : stageMemory.budgetFor(fixed);
    const denoiserShape = {
      batch: 2 * recipe.prompts.length,
      t: size.latentDims[2],
      h: size.latentDims[3],
      w: size.latentDims[4],
      textLength: stageOf(bundle, "text").max_length,
    };
    const denoiserWork = denoiserWorkBytes(stageOf(bundle, "denoiser"), denoiserShape);
    // The denoise loop's latents (noise, x, the model's batch and its velocity, the CFG mix) and each block
    // call's hidden state on the main thread and on the wire: bytes the denoiser holds outside its blocks.
    const latentBytes = 4 * size.latentDims.reduce((a, b) => a * b, 1);
    const den = stageOf(bundle, "denoiser");
    const [pt, ph, pw] = den.patch_size;
    const hiddenBytes = 4 * denoiserShape.batch * Math.ceil(denoiserShape.t / pt) *
      Math.ceil(denoiserShape.h / ph) * Math.ceil(denoiserShape.w / pw) * den.hidden_size;
    const denoiserFixed = 8 * latentBytes + 4 * hiddenBytes;
    if (memory.budgetBytes !== null || Object.keys(budgets.stages).length > 0) {
      await preflight({
        memory,
        executor,
        scheduler,
        budgets: budgets.stages,
        stages: [
          ["text", [textStageInfo(stageOf(bundle, "text"), recipe.prompts.length, denoiserShape.textLength)]],
          ["denoiser", [{
            info: {
              stage: "denoiser",
              blocks: den.blocks.map((b) => ({ name: b.name, bytes: b.bytes, workBytes: denoiserWork })),
              passes: recipe.steps,
            },
            fixed: denoiserFixed,
          }]],
          ["vae", vaeStageInfos(bundle, size.latentDims, size.frames)],
        ],
      });
    }
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
    let stageMemory = openStageMemory(memory, "text", budgets.stages.text);
    const text = await encodeText({
      ...common,
      bundle,
      prompts: recipe.prompts,
      budget: { bytes: null },
      budgetFor: budgetFor(stageMemory),
      warn,
    });
    report.addPlan("text", text.plan);
    stageMemory.finish([text.plan]);
    emit({ type: "stage", stage: "text", status: "end", at: at() });

    signal?.throwIfAborted();
    emit({ type: "stage", stage: "denoiser", status: "start", at: at() });
    stageMemory = openStageMemory(memory, "denoiser", budgets.stages.denoiser);
    const work = denoiserWorkBytes(den, { ...denoiserShape, textLength: text.y.dims[1] });
    // The first pass runs the smallest plan the scheduler makes and is measured block by block; the rest
    // of the run is re-planned from what it took (runtime/run_memory.ts adaptiveStage).
    // (A device's offered memory is planned against as it is.)
    const adaptive = offered ? null : adaptiveStage(memory, stageMemory, scheduler, {
      stage: "denoiser",
      blocks: den.blocks.map((b) => ({ name: b.name, bytes: b.bytes, workBytes: work })),
      passes: recipe.steps,
    }, denoiserFixed);
    const runner = await openStage({
      ...common,
      emit: adaptive
        ? (e) => {
          adaptive.observe(e);
          emit(e);
        }
        : emit,
      bundle,
      stage: "denoiser",
      budget: adaptive ? adaptive.firstBudget : { bytes: offered!.bytes },
      passes: recipe.steps,
      workBytes: work,
      adapt: adaptive?.adapt,
    });
    adaptive?.begin();
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
    for (const plan of (runner.plans ?? []).slice(1)) report.addPlan("denoiser", plan);
    stageMemory.finish(runner.plans ?? [runner.plan]);
    emit({ type: "stage", stage: "denoiser", status: "end", at: at() });

    signal?.throwIfAborted();
    emit({ type: "stage", stage: "vae", status: "start", at: at() });
    stageMemory = openStageMemory(memory, "vae", budgets.stages.vae);
    const vaeMemory = stageMemory;
    const decoded = await decodeVideo({
      ...common,
      bundle,
      latent: denoised.latent,
      frames: size.frames,
      budget: { bytes: null },
      budgetFor: budgetFor(stageMemory),
      // the micro-batch re-plan measures this process: not for a device's offered memory
      ...(offered ? {} : { window: () => memory.window(), added: () => memory.added() }),
      note: (m) => vaeMemory.notes.push(m),
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
    stageMemory.finish(decoded.plans);
    const run = memory.report(stageBytes.text + stageBytes.denoiser + stageBytes.vae);
    if (run.withinBudget === false) {
      warn(
        `the run added ${formatBytes(run.addedPeakBytes)} over its start, over the budget of ${
          formatBytes(run.budgetBytes!)
        }`,
      );
    }
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
        peakRssBytes: Math.max(peakRssBytes(), run.peakRssBytes),
        run,
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

/**
 * Before any work: start the first lane (measured) and plan every stage at its smallest (the text stage,
 * the denoiser, the VAE at one frame a micro-batch) against what would be left; a budget no plan can hold
 * is one BudgetError here.
 */
async function preflight(o: {
  memory: RunMemory;
  executor: PluginKinds["executor"];
  scheduler: MemoryScheduler;
  budgets: Partial<Record<StageName, number>>;
  stages: [StageName, { info: StageInfo; fixed: number }[]][];
}): Promise<void> {
  await o.memory.startLanes(o.executor, 1);
  o.memory.require("the first lane (onnxruntime's environment included)", o.memory.added());
  for (const [stage, parts] of o.stages) {
    const stageBudget = o.budgets[stage];
    for (const { info, fixed } of parts) {
      try {
        o.scheduler.plan(info, o.memory.planBudget(fixed, stageBudget ?? null));
      } catch (e) {
        if (!(e instanceof BudgetError)) throw e;
        throw new BudgetError(
          `Cannot run within the memory budget (checked before any work; the first lane measured ${
            formatBytes(o.memory.laneBytes[0] ?? 0)
          }): ${e.message}`,
          e.neededBytes,
          e.budgetBytes,
          { cause: e },
        );
      }
    }
  }
}
