/**
 * The types of a bundle manifest (`bundle.json`, schema `odsora.bundle/1`, see export/BUNDLE.md).
 *
 * @module
 */
import type { StageName } from "../core/types.ts";

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
