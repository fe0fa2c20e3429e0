/**
 * The batch's work list: a prompt file (one JSON object a line) expanded into items, one item = one prompt
 * × recipe variant × seed run of the recipe; each item has a folder name in the output folder and a key
 * (SHA-256 of what determines its video) that the manifest records, so that a rerun skips finished items.
 *
 * @module
 */
import { OdsoraError } from "../runtime/core/errors.ts";

/** The batch's command line or input is unusable. */
export class BatchError extends OdsoraError {}

/** The attributes an analyzer reads from a clip, when a prompt line gives the expected ones. */
export const EXPECTED_KEYS = ["color", "shape", "motion"] as const;

/** One line of a batch prompt file. */
export interface BatchPrompt {
  prompt: string;
  /** Expected attributes (`color`, `shape`, `motion`), present only when the line gives all three. */
  expected: Record<string, string> | null;
  heldout: boolean;
}

/**
 * Parse prompt-file text: `{"prompt": "...", "color": "red", "shape": "circle", "motion": "left"}` a line
 * (expected attributes optional, all three or none; other keys ignored; blank lines skipped).
 *
 * @example
 * ```ts
 * import { parseBatchPrompts } from "./items.ts";
 * const [p] = parseBatchPrompts('{"prompt": "a red circle"}', "p.jsonl");
 * console.assert(p.expected === null);
 * ```
 */
export function parseBatchPrompts(text: string, file: string): BatchPrompt[] {
  const out: BatchPrompt[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const where = `Cannot read prompt file '${file}': line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new BatchError(`${where} is not JSON`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      throw new BatchError(`${where} is not an object`);
    }
    const o = v as Record<string, unknown>;
    if (typeof o.prompt !== "string" || !o.prompt.trim()) {
      throw new BatchError(`${where} has no string 'prompt'`);
    }
    const given = EXPECTED_KEYS.filter((k) => k in o);
    if (given.length > 0 && given.length < EXPECTED_KEYS.length) {
      throw new BatchError(
        `${where} gives '${given.join("', '")}' but not all of '${EXPECTED_KEYS.join("', '")}'`,
      );
    }
    for (const k of given) {
      if (typeof o[k] !== "string" || !(o[k] as string).trim()) {
        throw new BatchError(`${where}: '${k}' is not a string`);
      }
    }
    out.push({
      prompt: o.prompt,
      expected: given.length ? Object.fromEntries(given.map((k) => [k, o[k] as string])) : null,
      heldout: o.heldout === true,
    });
  });
  if (out.length === 0) throw new BatchError(`Cannot read prompt file '${file}': it holds no prompts`);
  return out;
}

/** Read and parse a batch prompt file. */
export async function readBatchPrompts(file: string): Promise<BatchPrompt[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new BatchError(`Cannot read prompt file '${file}': ${(e as Error).message}`);
  }
  return parseBatchPrompts(text, file);
}

/** One unit of work: a run of the recipe that one worker does and one manifest line records. */
export interface BatchJob {
  /** Folder name of the item in the output folder (`0003-default-s42`). */
  name: string;
  /** SHA-256 (hex) of the recipe file's text, its path, the prompts, the seed and the variant overrides. */
  key: string;
  /** Recipe file (absolute path). */
  recipe: string;
  /** Recipe overrides (dotted keys): the variant's, the prompts and the seed. */
  overrides: Record<string, unknown>;
  /**
   * The world file (eval/world.ts) when the prompt file gave expected attributes: the worker then analyzes
   * each clip (colour, shape, motion, background) as `deno task eval` does.
   */
  world?: string;
  /** Also keep the decoded float32 video (`video.f32`, for comparisons such as the bench's SSIM). */
  keepVideo?: boolean;
  /** Fields copied into the manifest line: prompt(s), seed, variant, expected attributes. */
  info: Record<string, unknown>;
}

/** SHA-256 of `text` as hex (WebCrypto). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The key of a run: what determines its video. */
export function jobKey(
  recipeText: string,
  recipe: string,
  prompts: readonly string[],
  seed: number,
  overrides: Record<string, unknown>,
): Promise<string> {
  return sha256Hex(JSON.stringify({ recipeText, recipe, prompts, seed, overrides }));
}

/**
 * Expand prompts × variants × seeds into jobs (in that order), seeds `baseSeed`, `baseSeed + 1`, ...
 *
 * @example
 * ```ts ignore
 * const jobs = await expandJobs(prompts, { recipe, recipeText, baseSeed: 42, seeds: 2, variants: { default: {} } });
 * jobs[1].name; // "0000-default-s43"
 * ```
 */
export async function expandJobs(
  prompts: readonly BatchPrompt[],
  options: {
    recipe: string;
    recipeText: string;
    baseSeed: number;
    seeds: number;
    variants: Readonly<Record<string, Record<string, unknown>>>;
    /** The world file, for prompts with expected attributes. */
    world?: string;
  },
): Promise<BatchJob[]> {
  const jobs: BatchJob[] = [];
  for (const [i, p] of prompts.entries()) {
    for (const [variant, vo] of Object.entries(options.variants)) {
      for (let s = 0; s < options.seeds; s++) {
        const seed = options.baseSeed + s;
        const overrides = { ...vo, prompt: p.prompt, seed };
        jobs.push({
          name: `${String(i).padStart(4, "0")}-${variant}-s${seed}`,
          key: await jobKey(options.recipeText, options.recipe, [p.prompt], seed, vo),
          recipe: options.recipe,
          overrides,
          ...(p.expected && options.world ? { world: options.world } : {}),
          info: {
            prompt: p.prompt,
            seed,
            variant,
            ...(p.expected ? { expected: p.expected, heldout: p.heldout } : {}),
          },
        });
      }
    }
  }
  return jobs;
}

/** One manifest line: the job's info plus what the run produced. */
export interface ManifestRecord {
  item: string;
  key: string;
  prompt?: string;
  prompts?: string[];
  seed: number;
  variant?: string;
  /** Output files, relative to the output folder. */
  files: Record<string, string>;
  timings: { generateMs: number; itemMs: number };
  expected?: Record<string, string>;
  /** What the analyzer read from each clip (one per prompt of the run). */
  analyzed?: Record<string, unknown>[];
  worker: string;
  /** 1 + the earlier starts of this item that did not finish (a killed worker's item is attempt 2). */
  attempt: number;
  [field: string]: unknown;
}

/**
 * Parse a manifest's text into records by key. A last line cut short (a killed writer) is dropped and
 * reported as `cut` so the caller can rewrite the file before appending.
 */
export function parseManifest(text: string): { records: Map<string, ManifestRecord>; cut: boolean } {
  const records = new Map<string, ManifestRecord>();
  const lines = text.split("\n");
  const cut = text.length > 0 && !text.endsWith("\n");
  for (const [i, line] of lines.entries()) {
    if (!line.trim() || (cut && i === lines.length - 1)) continue;
    let r: ManifestRecord;
    try {
      r = JSON.parse(line);
    } catch {
      throw new BatchError(`Cannot read the manifest: line ${i + 1} is not JSON`);
    }
    if (typeof r?.key !== "string") {
      throw new BatchError(`Cannot read the manifest: line ${i + 1} has no 'key'`);
    }
    records.set(r.key, r);
  }
  return { records, cut };
}

/** Split `items` into shards of `size` (the last may be shorter). */
export function shards<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
