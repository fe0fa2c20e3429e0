/**
 * Reading a bundle folder (schema `odsora.bundle/1`, see export/BUNDLE.md): the zod-validated manifest,
 * typed, plus helpers for block paths, stages and the null caption.
 *
 * @module
 */
import { z } from "zod";
import { isAbsolute, join, resolve } from "node:path";
import { BundleError } from "./errors.ts";
import { tensor } from "./tensor.ts";
import type { StageName, Tensor } from "./types.ts";

/** The schema string this runtime reads. */
export const BUNDLE_SCHEMA = "odsora.bundle/1" as const;

const BUILD_HINT = "build one with `scripts/py -m export random --config tiny --out DIR` " +
  "(or `scripts/py -m export opensora ...` from a checkpoint)";

const dim = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const io = z.object({
  name: z.string().min(1),
  dtype: z.enum(["float32", "int64", "uint8", "bool"]),
  dims: z.array(dim),
  onnx_name: z.string().min(1).optional(),
});

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

/** The manifest `bundle.json` as parsed (absent stages are `null`). */
export interface Manifest {
  schema: typeof BUNDLE_SCHEMA;
  name: string;
  family: string;
  source: { kind: "random" | "checkpoint" | "trained" | "fixture"; detail: string };
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

const nullCaptionEntry = z.object({
  file: z.string(),
  dtype: z.literal("float32"),
  dims: z.array(z.number().int().positive()),
});

const BlockSchema = z.object({
  name: z.string().min(1),
  file: z.string().min(1),
  data: z.string().min(1).nullable(),
  bytes: z.number().int().nonnegative(),
  params: z.number().int().nonnegative(),
  inputs: z.array(io),
  outputs: z.array(io),
});

const stageBase = { blocks: z.array(BlockSchema).min(1) };

/** The `text` stage. */
const TextStageSchema = z.looseObject({
  tokenizer: z.string().nullable(),
  max_length: z.number().int().positive(),
  pad_id: z.number().int(),
  eos_id: z.number().int(),
  prompt_suffix: z.string().default(""),
  lowercase: z.boolean().default(false),
  caption_channels: z.number().int().positive(),
  null_caption: nullCaptionEntry.nullable().optional().transform((v) => v ?? null),
  inputs: z.array(z.string()),
  output: z.string(),
  ...stageBase,
});

/** The `denoiser` stage. */
const DenoiserStageSchema = z.looseObject({
  hidden_size: z.number().int().positive(),
  num_heads: z.number().int().positive(),
  depth: z.number().int().nonnegative(),
  patch_size: z.tuple([
    z.number().int().positive(),
    z.number().int().positive(),
    z.number().int().positive(),
  ]),
  in_channels: z.number().int().positive(),
  out_channels: z.number().int().positive(),
  caption_channels: z.number().int().positive().optional(),
  model_max_length: z.number().int().positive().optional(),
  input_sq_size: z.number().positive().optional(),
  inputs: z.array(z.string()),
  output: z.string(),
  ...stageBase,
});

/** The `vae` stage. */
const VaeStageSchema = z.looseObject({
  latent_channels: z.number().int().positive(),
  spatial_factor: z.number().int().positive(),
  temporal_factor: z.number().int().positive(),
  chunk_latents: z.number().int().positive(),
  chunk_frames: z.number().int().positive(),
  spatial_micro_batch: z.number().int().positive(),
  parts: z.array(z.enum(["temporal", "spatial"])).optional(),
  ...stageBase,
});

/** The whole `bundle.json`. Unknown (additive) keys are kept, untyped. */
const BundleSchema = z.looseObject({
  schema: z.literal(BUNDLE_SCHEMA),
  name: z.string(),
  family: z.string(),
  source: z.object({ kind: z.enum(["random", "checkpoint", "trained", "fixture"]), detail: z.string() }),
  created: z.string(),
  text: TextStageSchema.nullable().optional().transform((v) => v ?? null),
  denoiser: DenoiserStageSchema.nullable().optional().transform((v) => v ?? null),
  vae: VaeStageSchema.nullable().optional().transform((v) => v ?? null),
  video: z.object({
    fps: z.number().positive(),
    default_frames: z.number().int().positive(),
    default_height: z.number().int().positive(),
    default_width: z.number().int().positive(),
  }),
  preview: z.object({ weight: z.array(z.array(z.number())), bias: z.array(z.number()) }).nullable().optional()
    .transform((v) => v ?? null),
  quantization: z.record(z.string(), z.string()).nullable().optional().transform((v) => v ?? null),
  null_caption: nullCaptionEntry.nullable().optional().transform((v) => v ?? null),
});

// The schema must produce the interfaces above (unknown additive keys pass through untyped).
const _fits: z.infer<typeof BundleSchema> extends Manifest ? true : false = true;

/**
 * Read and validate `DIR/bundle.json`; check every block file exists.
 *
 * @example
 * ```ts ignore
 * import { loadBundle } from "./bundle.ts";
 * const bundle = await loadBundle("models/default");
 * console.log(bundle.denoiser?.blocks.length);
 * ```
 */
export async function loadBundle(dir: string): Promise<Bundle> {
  const abs = resolve(dir);
  const manifestPath = join(abs, "bundle.json");
  let text: string;
  try {
    text = await Deno.readTextFile(manifestPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BundleError(`Cannot load bundle: '${manifestPath}' does not exist; ${BUILD_HINT}`, abs, {
        cause: e,
      });
    }
    throw new BundleError(
      `Cannot load bundle: '${manifestPath}' is unreadable (${(e as Error).message})`,
      abs,
      {
        cause: e,
      },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BundleError(
      `Cannot load bundle: '${manifestPath}' is not valid JSON (${(e as Error).message})`,
      abs,
      {
        cause: e,
      },
    );
  }
  const schema = (raw as { schema?: unknown } | null)?.schema;
  if (schema !== BUNDLE_SCHEMA) {
    throw new BundleError(
      `Cannot load bundle: '${manifestPath}' has schema '${
        String(schema)
      }', this runtime reads '${BUNDLE_SCHEMA}'; ` +
        `re-export it (${BUILD_HINT})`,
      abs,
    );
  }
  const parsed = BundleSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue.path.map(String).join(".") || "(root)";
    throw new BundleError(`Cannot load bundle: '${manifestPath}' key '${key}': ${issue.message}`, abs);
  }
  const bundle: Bundle = { ...parsed.data, dir: abs };
  for (const stage of ["text", "denoiser", "vae"] as const) {
    for (const block of bundle[stage]?.blocks ?? []) {
      for (const rel of [block.file, block.data]) {
        if (rel === null) continue;
        const path = isAbsolute(rel) ? rel : join(abs, rel);
        try {
          await Deno.stat(path);
        } catch {
          throw new BundleError(
            `Cannot load bundle: block '${stage}/${block.name}' file '${path}' does not exist`,
            abs,
          );
        }
      }
    }
  }
  return bundle;
}

/** Absolute path of a block's ONNX file (onnxruntime finds the external data beside it). */
export function blockPath(bundle: Bundle, block: Block): string {
  return isAbsolute(block.file) ? block.file : join(bundle.dir, block.file);
}

/** A stage of the bundle, or a BundleError naming the stage when the bundle lacks it. */
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

/** The null caption embedding [L, Cc] (`null_caption` or `text.null_caption`); BundleError if there is none. */
export async function nullCaption(bundle: Bundle): Promise<Tensor<"float32">> {
  const spec = bundle.null_caption ?? bundle.text?.null_caption;
  if (!spec) throw new BundleError(`Cannot read null caption: bundle '${bundle.name}' has none`, bundle.dir);
  const path = join(bundle.dir, spec.file);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new BundleError(`Cannot read null caption: '${path}' is unreadable`, bundle.dir, { cause: e });
  }
  const n = spec.dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== n * 4) {
    throw new BundleError(
      `Cannot read null caption: '${path}' has '${bytes.length}' bytes, dims '${
        JSON.stringify(spec.dims)
      }' need '${n * 4}'`,
      bundle.dir,
    );
  }
  const data = new Float32Array(n);
  new Uint8Array(data.buffer).set(bytes);
  return tensor("float32", spec.dims, data);
}
