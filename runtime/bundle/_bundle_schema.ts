/**
 * The zod schema of `bundle.json`; {@link parseManifest} validates a parsed JSON value against it.
 *
 * @module
 */
import { z } from "zod";
import { BUNDLE_SCHEMA, type Manifest } from "../core/manifest.ts";

const dim = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const io = z.object({
  name: z.string().min(1),
  dtype: z.enum(["float32", "int64", "uint8", "bool"]),
  dims: z.array(dim),
  onnx_name: z.string().min(1).optional(),
});

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
  source: z.object({
    kind: z.enum(["random", "checkpoint", "trained", "fixture"]),
    detail: z.string(),
    config: z.string().optional(),
    seed: z.number().int().optional(),
    stages: z.array(z.string()).optional(),
    checkpoints: z.record(z.string(), z.string()).optional(),
    fixture: z.string().optional(),
    steps: z.number().int().nonnegative().optional(),
    weights: z.string().optional(),
    /** A model trained in stages: the steps of each (`{ clips_17: 14000, buckets: 6500 }`). */
    training: z.record(z.string(), z.number().int().nonnegative()).optional(),
  }),
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

/** Validate a parsed `bundle.json`: the typed manifest, or the first bad key path and its message. */
export function parseManifest(
  raw: unknown,
): { ok: true; manifest: Manifest } | { ok: false; key: string; message: string } {
  const parsed = BundleSchema.safeParse(raw);
  if (parsed.success) return { ok: true, manifest: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, key: issue.path.map(String).join(".") || "(root)", message: issue.message };
}
