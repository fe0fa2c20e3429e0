/**
 * odsora: text-to-video on memory-limited devices (On-device Sora on Open-Sora v1.2) as a Deno plugin
 * runtime. This module exports the public API: the core types and plugin interfaces, tensors, bundles,
 * the plugin registry and the built-ins (`builtins`), stage running, the denoise loop, and the pipeline.
 * Plugin authors import `plugin.ts` instead.
 *
 * @example
 * ```ts ignore
 * import { loadBundle, resolvePlugin } from "./mod.ts";
 * const bundle = await loadBundle("models/default");
 * const sampler = await resolvePlugin("sampler", { name: "euler" }, ".");
 * ```
 *
 * @module
 */
export type * from "./runtime/core/types.ts";
export * from "./runtime/core/errors.ts";
export * from "./runtime/core/tensor.ts";
export { parseSafetensors, pick, readSafetensors, SafetensorsError } from "./runtime/bundle/safetensors.ts";
export {
  type Block,
  type BlockIO,
  blockPath,
  type Bundle,
  BUNDLE_SCHEMA,
  type DenoiserStage,
  loadBundle,
  type Manifest,
  nullCaption,
  stageOf,
  type StageSpec,
  type TextStage,
  type VaeStage,
} from "./runtime/bundle/bundle.ts";
export { builtinPlugins, builtins, resolveDefinition, resolvePlugin } from "./builtins.ts";
export {
  createRegistry,
  definePlugin,
  instantiate,
  type PluginSpec,
  type Registry,
} from "./runtime/core/registry.ts";
export { openStage, type OpenStageOptions, type StageRunner } from "./runtime/core/stage.ts";
export { composeOperators, denoise, type DenoiseOptions } from "./runtime/core/denoise.ts";
export { local, LocalExecutor } from "./runtime/local/executor_local.ts";
export { availableBytes, mallocTrim, peakRssBytes, rssBytes } from "./runtime/core/memory.ts";
export { eulerDt, sampleEuler, samplers } from "./samplers/mod.ts";
export { rflowTimesteps, shiftRatio } from "./runtime/core/timesteps.ts";
export {
  blockNeed,
  checkBudget,
  checkEachBlock,
  laneWorkBytes,
  planResident,
  planSequential,
  schedulers,
} from "./schedulers/mod.ts";
export { plugins } from "./plugins/mod.ts";
export { generate, type GenerateOptions, type RunResult } from "./runtime/pipeline/pipeline.ts";
export { loadRecipe, parseRecipe, type Recipe, type RecipeOptions } from "./runtime/recipe/recipe.ts";
export { encodeText, type EncodeTextOptions, type TextConditioning } from "./runtime/pipeline/text_stage.ts";
export { type DecodeOptions, decodeVideo, framesFor, latentFrames } from "./runtime/pipeline/vae_stage.ts";
export { gaussianNoise } from "./runtime/core/rng.ts";
export { type Mp4Options, writeMp4 } from "./runtime/media/video.ts";
export { encodeGif, writeGif } from "./runtime/media/gif.ts";
export { encodePng, writePngFrames } from "./runtime/media/png.ts";
