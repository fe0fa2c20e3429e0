/**
 * A bundle manifest (`bundle.json`, schema `odsora.bundle/1`, see export/BUNDLE.md) as data: its types and
 * the two lookups the core needs (a stage, a block's file). Reading and validating a bundle folder is
 * `runtime/bundle/`'s; the core only describes what a loaded bundle is.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import { BundleError } from "./errors.ts";
import type { StageName } from "./types.ts";

/** The schema string this runtime reads. */
export const BUNDLE_SCHEMA = "odsora.bundle/1" as const;

/** One input or output of a block: name, dtype, and dims (numbers fixed, strings symbolic). */
export interface BlockIO {
  name: string;
  dtype: "float32" | "int64" | "uint8" | "bool";
  dims: (number | string)[];
  /** The graph's name for an output that shadows an input (`h` → `h_out`); absent = `name`. */
  onnx_name?: string;
}

/** A block entry of a stage: one ONNX file (+ external data). */
export interface Block {
  name: string;
  file: string;
  data: string | null;
  bytes: number;
  params: number;
  inputs: BlockIO[];
  outputs: BlockIO[];
}

/** The `text` stage (T5 encoder). */
export interface TextStage {
  tokenizer: string | null;
  max_length: number;
  pad_id: number;
  eos_id: number;
  prompt_suffix: string;
  lowercase: boolean;
  caption_channels: number;
  null_caption: NullCaptionEntry | null;
  inputs: string[];
  output: string;
  blocks: Block[];
}

/** The `denoiser` stage (STDiT3). */
export interface DenoiserStage {
  hidden_size: number;
  num_heads: number;
  depth: number;
  patch_size: [number, number, number];
  in_channels: number;
  out_channels: number;
  /** Additive STDiT3 config values (present in bundles from this exporter). */
  caption_channels?: number;
  model_max_length?: number;
  input_sq_size?: number;
  inputs: string[];
  output: string;
  blocks: Block[];
}

/** The `vae` stage (temporal then spatial decode). */
export interface VaeStage {
  latent_channels: number;
  spatial_factor: number;
  temporal_factor: number;
  chunk_latents: number;
  chunk_frames: number;
  spatial_micro_batch: number;
  /** The decoders present, in block order (absent: both). */
  parts?: ("temporal" | "spatial")[];
  blocks: Block[];
}

/**
 * Where a bundle's weights came from: `detail` is one readable line; the other fields are the structured
 * provenance (export/BUNDLE.md "source"), absent from bundles written before them.
 */
export interface BundleSource {
  kind: "random" | "checkpoint" | "trained" | "fixture";
  detail: string;
  /** random: the size preset, the seed and the stages exported. */
  config?: string;
  seed?: number;
  stages?: string[];
  /** checkpoint, trained: the checkpoint paths by part (stdit, vae, t5 / vae, dit). */
  checkpoints?: Record<string, string>;
  /** fixture: the golden fixture folder. */
  fixture?: string;
  /** trained: training steps of the DiT checkpoint and which weights ("ema" or "raw"). */
  steps?: number;
  weights?: string;
  /** A model trained in stages: the steps of each (`{ clips_17: 14000, buckets: 6500 }`). */
  training?: Record<string, number>;
}

/** The manifest `bundle.json` as parsed (absent stages are `null`). */
export interface Manifest {
  schema: typeof BUNDLE_SCHEMA;
  name: string;
  family: string;
  source: BundleSource;
  created: string;
  text: TextStage | null;
  denoiser: DenoiserStage | null;
  vae: VaeStage | null;
  video: { fps: number; default_frames: number; default_height: number; default_width: number };
  preview: { weight: number[][]; bias: number[] } | null;
  quantization: Record<string, string> | null;
  /** The null caption, present whenever a denoiser was exported (also without a text stage). */
  null_caption: NullCaptionEntry | null;
}

/** Where the null caption embedding [L, Cc] is stored (raw little-endian float32). */
export interface NullCaptionEntry {
  file: string;
  dtype: "float32";
  dims: number[];
}

/** A loaded bundle: the manifest plus its absolute folder. */
export type Bundle = Manifest & { readonly dir: string };

/** Any stage of a manifest. */
export type StageSpec = NonNullable<Manifest[StageName]>;

/**
 * Absolute path of a block's ONNX file (onnxruntime finds the external data beside it).
 *
 * @example
 * ```ts ignore
 * blockPath(bundle, stageOf(bundle, "denoiser").blocks[0]); // "/…/models/default/denoiser/embed.onnx"
 * ```
 */
export function blockPath(bundle: Bundle, block: Block): string {
  return isAbsolute(block.file) ? block.file : join(bundle.dir, block.file);
}

/**
 * A stage of the bundle, or a BundleError naming the stage when the bundle lacks it.
 *
 * @example
 * ```ts ignore
 * stageOf(bundle, "denoiser").blocks.length; // the denoiser's blocks
 * ```
 */
export function stageOf<S extends StageName>(bundle: Bundle, stage: S): NonNullable<Manifest[S]> {
  const spec = bundle[stage];
  if (!spec) {
    throw new BundleError(
      `Cannot run stage '${stage}': bundle '${bundle.name}' at '${bundle.dir}' has no ${stage} stage`,
      bundle.dir,
    );
  }
  return spec as NonNullable<Manifest[S]>;
}
