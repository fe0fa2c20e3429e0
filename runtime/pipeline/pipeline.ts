/**
 * `generate()`: one run of a recipe, with one-way data flow — prompt → tokens → text stage → denoise
 * (sampler, token ops, CFG) → VAE stage → video files + JSON report. Every stage runs its blocks through
 * the recipe's memory scheduler on the recipe's executor. Outputs are staged and only moved into place
 * when everything succeeded; a failure or cancellation leaves no files behind.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Bundle, loadBundle, stageOf } from "../bundle/bundle.ts";
import { denoise } from "../core/denoise.ts";
import { samplerSchedule } from "../core/sample.ts";
import { BundleError, OdsoraError } from "../core/errors.ts";
import { availableBytes, peakRssBytes } from "../core/memory.ts";
import { openPending, writePendingJson, writePendingVideos } from "./outputs.ts";
import type { Recipe } from "../recipe/recipe.ts";
import type { Registry } from "../core/registry.ts";
import {
  resolveRecipePlugin,
  resolveRecipePlugins,
  type RunBudgets,
  runBudgets,
} from "../recipe/recipe_plugins.ts";
import { adaptiveStage, openStageMemory, RunMemory } from "../core/run_memory.ts";
import { BudgetError, formatBytes } from "../core/errors.ts";
import { vaeStageInfos } from "./vae_stage.ts";
import { createReport } from "./report.ts";
import { gaussianNoise } from "../core/rng.ts";
import { openStage, planStage } from "../core/stage.ts";
import { encodeText, type TextConditioning, textStageInfo } from "./text_stage.ts";
import type {
  Budget,
  Emit,
  MemoryScheduler,
  PluginKinds,
  StageInfo,
  StageName,
  Tensor,
} from "../core/types.ts";
import { decodeVideo } from "./vae_stage.ts";
import { type VideoSize, videoSize } from "./video_size.ts";
import { withPreview } from "../media/preview.ts";
import { type RunContext, type RunEvents, runEvents, type RunObserver } from "../core/run_context.ts";
import { denoiserWorkBytes } from "../core/work_estimate.ts";

/** The report's event types (it never reads previews). */
const REPORTED = ["stage", "block", "step", "cache", "decision", "memory"] as const;

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** Where the recipe's plugins come from (the edge assembles it: `builtins` of builtins.ts). */
  registry: Registry;
  /** Observers of the run's events, each of the types it lists (the progress bar, the UI stream). */
  observers?: readonly RunObserver[];
  /** Receives every run event, previews included (an observer of every type). */
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

/** The recipe's bundle folder, or a BundleError that says how to build it when it is missing. */
function builtBundleDir(recipe: Recipe): string {
  const file = join(recipe.bundle, "bundle.json");
  if (recipe.bundleBuild && !existsSync(file)) {
    throw new BundleError(
      `Cannot load bundle: '${file}' does not exist; build it with \`${recipe.bundleBuild}\``,
      recipe.bundle,
    );
  }
  return recipe.bundle;
}

/** One run as the pipeline's steps see it: the recipe, its bundle and plugins, the events, the memory. */
interface Run {
  recipe: Recipe;
  bundle: Bundle;
  size: VideoSize;
  plugins: Awaited<ReturnType<typeof resolveRecipePlugins>>;
  timesteps: readonly number[];
  report: Report;
  events: RunEvents;
  warn: (message: string) => void;
  /** What each stage gets from the run (executor, scheduler, events, cancellation, clock, lanes). */
  context: RunContext;
  memory: RunMemory;
  budgets: RunBudgets;
  stageBytes: Record<StageName, number>;
  /** The executor's device offer when the recipe sets no budget (planned against as it is), or null. */
  offered: { bytes: number } | null;
  available: number;
  /** What the denoiser holds outside its blocks (latents, hidden states), bytes. */
  denoiserFixed: number;
  denoiserShape: { batch: number; t: number; h: number; w: number; textLength: number };
}

type Report = ReturnType<typeof createReport>;

/** A stage's budget source: the device's offer, or what the run's memory leaves the stage. */
function budgetFor(r: Run, stageMemory: { budgetFor(fixed: number): Budget }) {
  return (fixed: number): Budget =>
    r.offered ? { bytes: r.offered.bytes, availableBytes: r.available } : stageMemory.budgetFor(fixed);
}

/** Run `work` as stage `stage`: start and end events around it, after a cancellation check. */
async function inStage<T>(r: Run, stage: StageName, work: () => Promise<T>): Promise<T> {
  r.context.signal?.throwIfAborted();
  const at = () => performance.now() - r.context.origin!;
  r.events.emit({ type: "stage", stage, status: "start", at: at() });
  const result = await work();
  r.events.emit({ type: "stage", stage, status: "end", at: at() });
  return result;
}

/**
 * The run's memory, before any work: the device's offer (no budget in the recipe), else the run's budget,
 * with every stage's smallest plan checked against it (one BudgetError before anything loads).
 */
async function prepareMemory(r: Omit<Run, "offered" | "denoiserFixed" | "denoiserShape">) {
  const { recipe, bundle, size, budgets, memory, context } = r;
  // No budget in the recipe: plan each stage against the memory the executor's device offers, if it says
  // (that memory is the device's, not this process's: the run's own accounting does not apply).
  const unbudgeted = recipe.budget === null && Object.keys(budgets.stages).length === 0;
  const executor = context.executor;
  const offered = unbudgeted && executor.defaultBudget ? await executor.defaultBudget() : null;
  r.report.setBudgetSource(
    offered ? { from: "executor", ...offered.source } : { from: unbudgeted ? "none" : "recipe" },
  );
  const denoiserShape = {
    batch: 2 * recipe.prompts.length,
    t: size.latentDims[2],
    h: size.latentDims[3],
    w: size.latentDims[4],
    textLength: stageOf(bundle, "text").max_length,
  };
  const den = stageOf(bundle, "denoiser");
  const denoiserWork = denoiserWorkBytes(den, denoiserShape);
  // The denoise loop's latents (noise, x, the model's batch and its velocity, the CFG mix) and each block
  // call's hidden state on the main thread and on the wire: bytes the denoiser holds outside its blocks.
  const latentBytes = 4 * size.latentDims.reduce((a, b) => a * b, 1);
  const [pt, ph, pw] = den.patch_size;
  const hiddenBytes = 4 * denoiserShape.batch * Math.ceil(denoiserShape.t / pt) *
    Math.ceil(denoiserShape.h / ph) * Math.ceil(denoiserShape.w / pw) * den.hidden_size;
  const denoiserFixed = 8 * latentBytes + 4 * hiddenBytes;
  if (memory.budgetBytes !== null || Object.keys(budgets.stages).length > 0) {
    await preflight({
      memory,
      executor,
      scheduler: context.scheduler,
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
  return { offered, denoiserFixed, denoiserShape };
}

/** The encode step: the prompts through the text stage. */
async function encodeStep(r: Run): Promise<TextConditioning> {
  const stageMemory = openStageMemory(r.memory, "text", r.budgets.stages.text);
  const text = await encodeText({
    ...r.context,
    bundle: r.bundle,
    prompts: r.recipe.prompts,
    budget: { bytes: null },
    budgetFor: budgetFor(r, stageMemory),
    warn: r.warn,
  });
  r.report.addPlan("text", text.plan);
  stageMemory.finish([text.plan]);
  return text;
}

/** The denoise step: the sampler over the denoiser stage from seeded noise, re-planned as it measures. */
async function denoiseStep(
  r: Run,
  text: TextConditioning,
): Promise<{ latent: Tensor<"float32">; calls: number }> {
  const { recipe, bundle, size, plugins, events, context } = r;
  const stageMemory = openStageMemory(r.memory, "denoiser", r.budgets.stages.denoiser);
  const den = stageOf(bundle, "denoiser");
  const work = denoiserWorkBytes(den, { ...r.denoiserShape, textLength: text.y.dims[1] });
  // The first pass runs the smallest plan the scheduler makes and is measured block by block; the rest
  // of the run is re-planned from what it took (runtime/core/run_memory.ts adaptiveStage).
  // (A device's offered memory is planned against as it is.)
  const adaptive = r.offered ? null : adaptiveStage(r.memory, stageMemory, context.scheduler, {
    stage: "denoiser",
    blocks: den.blocks.map((b) => ({ name: b.name, bytes: b.bytes, workBytes: work })),
    passes: recipe.steps,
  }, r.denoiserFixed);
  const runner = await openStage({
    ...context,
    emit: adaptive ? (e) => (adaptive.observe(e), events.emit(e)) : events.emit,
    bundle,
    stage: "denoiser",
    budget: adaptive ? adaptive.firstBudget : { bytes: r.offered!.bytes, availableBytes: r.available },
    passes: recipe.steps,
    workBytes: work,
    adapt: adaptive?.adapt,
  });
  adaptive?.begin();
  r.report.addPlan("denoiser", runner.plan);
  let denoised: { latent: Tensor<"float32">; calls: number };
  try {
    denoised = await denoise({
      bundle,
      runner,
      // previews of the predicted clean latent when the bundle has a latent → RGB map and someone looks
      sampler: bundle.preview && events.wants("preview")
        ? withPreview(plugins.sampler, bundle.preview, events.emit, {
          scale: stageOf(bundle, "vae").spatial_factor,
        })
        : plugins.sampler,
      tokenOps: plugins.tokenOps,
      stepCache: plugins.stepCache,
      noise: gaussianNoise(size.latentDims, recipe.seed),
      y: text.y,
      yMask: text.mask,
      yNull: text.yNull,
      cfgScale: recipe.cfg,
      timesteps: r.timesteps,
      fps: size.fps,
      height: size.height,
      width: size.width,
      emit: events.emit,
      signal: context.signal,
    });
  } finally {
    await runner.close();
  }
  for (const plan of (runner.plans ?? []).slice(1)) r.report.addPlan("denoiser", plan);
  stageMemory.finish(runner.plans ?? [runner.plan]);
  return denoised;
}

/** The decode step: the latent through the VAE stage (micro-batches shrink to fit the run's memory). */
async function decodeStep(r: Run, latent: Tensor<"float32">) {
  const stageMemory = openStageMemory(r.memory, "vae", r.budgets.stages.vae);
  const decoded = await decodeVideo({
    ...r.context,
    bundle: r.bundle,
    latent,
    frames: r.size.frames,
    budget: { bytes: null },
    budgetFor: budgetFor(r, stageMemory),
    // the micro-batch re-plan measures this process: not for a device's offered memory
    ...(r.offered ? {} : { window: () => r.memory.window(), added: () => r.memory.added() }),
    note: (m) => stageMemory.notes.push(m),
  });
  for (const plan of decoded.plans) r.report.addPlan("vae", plan);
  if (decoded.video.dims[1] !== 3) {
    throw new OdsoraError(
      `Cannot save video: bundle '${r.bundle.name}' decodes to '${decoded.video.dims[1]}' channels, not RGB`,
    );
  }
  return { video: decoded.video, finish: () => stageMemory.finish(decoded.plans) };
}

/** The write step: the videos and the JSON report into the scratch folder (moved into place on commit). */
async function writeStep(
  r: Run,
  pending: Awaited<ReturnType<typeof openPending>>,
  decoded: { video: Tensor<"float32">; finish(): void },
  calls: number,
): Promise<{ outputs: Record<string, string>[]; report: string }> {
  const { recipe, bundle, size } = r;
  const outputs = await writePendingVideos(pending, decoded.video, { ...recipe.output, fps: size.fps });
  decoded.finish();
  const run = r.memory.report(r.stageBytes.text + r.stageBytes.denoiser + r.stageBytes.vae);
  if (run.withinBudget === false) {
    r.warn(
      `the run added ${formatBytes(run.addedPeakBytes)} over its start, over the budget of ${
        formatBytes(run.budgetBytes!)
      }`,
    );
  }
  const { origins: _origins, ...recipeData } = recipe; // where keys came from: for messages, not the report
  const report = await writePendingJson(
    pending,
    `${recipe.output.name}.json`,
    r.report.build({
      recipe: recipeData,
      bundle: { name: bundle.name, dir: bundle.dir, family: bundle.family, source: bundle.source },
      prompts: recipe.prompts,
      seed: recipe.seed,
      video: { height: size.decodedHeight, width: size.decodedWidth, frames: size.frames, fps: size.fps },
      timesteps: [...r.timesteps],
      calls,
      outputs,
      peakRssBytes: Math.max(peakRssBytes(), run.peakRssBytes),
      run,
    }),
  );
  return { outputs, report };
}

/**
 * Run a recipe end to end: encode the prompts, denoise, decode, write. Everything it writes appears only
 * once the whole run succeeded.
 *
 * @example
 * ```ts ignore
 * import { builtins } from "../../builtins.ts";
 * import { loadRecipe } from "../recipe/recipe.ts";
 * import { generate } from "./pipeline.ts";
 * const result = await generate(await loadRecipe("recipes/default.yaml"), { registry: builtins });
 * console.log(result.outputs[0].mp4);
 * ```
 */
export async function generate(recipe: Recipe, options: GenerateOptions): Promise<RunResult> {
  const setup = await prepareRun(recipe, options);
  const pending = await openPending(recipe.output.dir);
  let executor: PluginKinds["executor"] | null = null;
  try {
    executor = await resolveRecipePlugin(options.registry, recipe, "executor", recipe.executor, ["executor"]);
    const r = await startRun(setup, executor, options.signal);
    const text = await inStage(r, "text", () => encodeStep(r));
    const denoised = await inStage(r, "denoiser", () => denoiseStep(r, text));
    const decoded = await inStage(r, "vae", () => decodeStep(r, denoised.latent));
    r.context.signal?.throwIfAborted();
    const written = await writeStep(r, pending, decoded, denoised.calls);
    r.context.signal?.throwIfAborted();
    await pending.commit();
    r.context.emit({
      type: "done",
      video: written.outputs[0].mp4 ?? null,
      gif: written.outputs[0].gif ?? null,
      report: written.report,
    });
    return { ...written, video: decoded.video, calls: denoised.calls, warnings: [...r.report.warnings] };
  } catch (e) {
    await pending.discard();
    throw e;
  } finally {
    await executor?.close();
  }
}

/** What a run is before its executor starts: the bundle, the size, the plugins, the events, the memory. */
type RunSetup = Omit<Run, "context" | "offered" | "denoiserFixed" | "denoiserShape"> & {
  origin: number;
};

/**
 * Everything a run needs that is not the executor: the report and the observers on one event stream, the
 * bundle and video size, the plugins and timesteps, the budgets and the run's memory (its base measured now).
 */
async function prepareRun(recipe: Recipe, options: GenerateOptions): Promise<RunSetup> {
  const origin = performance.now();
  const report = createReport(origin);
  // The report, the progress bar and the UI stream observe one event type; what nobody reads is not made.
  const observers = [...options.observers ?? [], ...(options.emit ? [{ on: options.emit }] : [])];
  const events = runEvents([{ types: REPORTED, on: report.emit }, ...observers]);
  const warn = (m: string) => (report.warn(m), options.warn?.(m));
  const bundle = await loadBundle(builtBundleDir(recipe));
  for (const s of ["text", "denoiser", "vae"] as const) stageOf(bundle, s);
  const size = videoSize(recipe, bundle, warn);
  const plugins = await resolveRecipePlugins(options.registry, recipe);
  const timesteps = samplerSchedule(plugins.sampler, size.timesteps);
  const available = availableBytes();
  const stageBytes = bytesByStage(bundle);
  const budgets = runBudgets(recipe, stageBytes);
  const memory = new RunMemory(budgets.run, available);
  return {
    origin,
    recipe,
    bundle,
    size,
    plugins,
    timesteps,
    report,
    events,
    warn,
    memory,
    budgets,
    stageBytes,
    available,
  };
}

/** Give the run its executor (the stages' context), plan its memory before any work, and announce it. */
async function startRun(
  setup: RunSetup,
  executor: PluginKinds["executor"],
  signal: AbortSignal | undefined,
): Promise<Run> {
  const { origin, ...base } = setup;
  const context: RunContext = {
    executor,
    scheduler: base.plugins.scheduler,
    emit: base.events.emit,
    signal,
    origin,
    startLanes: (n) => base.memory.startLanes(executor, n),
  };
  const r: Run = { ...base, context, ...await prepareMemory({ ...base, context }) };
  context.emit({
    type: "run",
    status: "start",
    recipe: r.recipe.file ?? "<recipe>",
    bundle: r.bundle.dir,
    prompt: r.recipe.prompts.join(" | "),
    at: 0,
  });
  return r;
}

/** Each stage's weights in bytes (what a fractional budget is of). */
function bytesByStage(bundle: Bundle): Record<StageName, number> {
  const bytesOf = (stage: StageName) => stageOf(bundle, stage).blocks.reduce((a, b) => a + b.bytes, 0);
  return { text: bytesOf("text"), denoiser: bytesOf("denoiser"), vae: bytesOf("vae") };
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
        planStage(o.scheduler, info, o.memory.planBudget(fixed, stageBudget ?? null));
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
