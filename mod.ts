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
export type * from "./runtime/types.ts";
export * from "./runtime/errors.ts";
export * from "./runtime/tensor.ts";
export { parseSafetensors, pick, readSafetensors, SafetensorsError } from "./runtime/safetensors.ts";
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
} from "./runtime/bundle.ts";
export { builtinPlugins, builtins, resolveDefinition, resolvePlugin } from "./builtins.ts";
export {
  createRegistry,
  definePlugin,
  instantiate,
  type PluginSpec,
  type Registry,
} from "./runtime/registry.ts";
export { openStage, type OpenStageOptions, type StageRunner } from "./runtime/stage.ts";
export { composeOperators, denoise, type DenoiseOptions } from "./runtime/denoise.ts";
export { local, LocalExecutor } from "./runtime/executor_local.ts";
export { availableBytes, mallocTrim, peakRssBytes, rssBytes } from "./runtime/memory.ts";
export { eulerDt, sampleEuler, samplers } from "./samplers/mod.ts";
export { rflowTimesteps, shiftRatio } from "./runtime/timesteps.ts";
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
export { generate, type GenerateOptions, type RunResult } from "./runtime/pipeline.ts";
export { loadRecipe, parseRecipe, type Recipe, type RecipeOptions } from "./runtime/recipe.ts";
export { encodeText, type EncodeTextOptions, type TextConditioning } from "./runtime/text_stage.ts";
export { type DecodeOptions, decodeVideo, framesFor, latentFrames } from "./runtime/vae_stage.ts";
export { gaussianNoise } from "./runtime/rng.ts";
export { type Mp4Options, writeMp4 } from "./runtime/video.ts";
export { encodeGif, writeGif } from "./runtime/gif.ts";
export { encodePng, writePngFrames } from "./runtime/png.ts";
