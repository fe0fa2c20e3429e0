/**
 * The recipe schema (zod): what a recipe may say, its defaults, and memory-budget strings. Keys are
 * strict (a typo is an error); plugin specs are open, because each plugin validates its own options.
 *
 * @module
 */
import { z } from "zod";

/** A memory budget as a recipe states it: absolute bytes, a fraction of the stage's bytes, or none. */
export type BudgetSpec = { bytes: number } | { fraction: number } | null;

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Parse a budget: `"3.3GB"` (decimal units), `"512MiB"` (binary), `"50%"` (of the stage's bytes), a bare
 * number of bytes, or `null` / `"none"` / `"unlimited"`. Returns an error string when it cannot.
 *
 * @example
 * ```ts
 * import { parseBudget } from "./recipe_schema.ts";
 * parseBudget("3.3GB"); // { bytes: 3300000000 }
 * parseBudget("50%"); // { fraction: 0.5 }
 * ```
 */
export function parseBudget(value: string | number | null): BudgetSpec | string {
  if (value === null || value === "none" || value === "unlimited") return null;
  if (typeof value === "number") {
    return value > 0 ? { bytes: Math.floor(value) } : "a budget must be positive";
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)?\s*$/i.exec(value);
  if (!m) return `'${value}' is not a budget (examples: '3.3GB', '512MiB', '50%', 'none')`;
  const amount = Number(m[1]);
  if (m[2] === "%") {
    return amount > 0 && amount <= 100 ? { fraction: amount / 100 } : `'${value}' is not in (0%, 100%]`;
  }
  const bytes = Math.floor(amount * UNITS[(m[2] ?? "b").toLowerCase()]);
  return bytes > 0 ? { bytes } : `'${value}' is not a positive size`;
}

const pluginRef: { name: z.ZodOptional<z.ZodString>; plugin: z.ZodOptional<z.ZodString> } = {
  /** A built-in plugin's name. */
  name: z.string().min(1).optional(),
  /** A module path (relative to the recipe file) exporting `plugin`. */
  plugin: z.string().min(1).optional(),
};

const exactlyOne = (v: { name?: string; plugin?: string }) =>
  (v.name === undefined) !== (v.plugin === undefined);
const oneMessage = { message: "give exactly one of 'name' (a built-in) or 'plugin' (a module path)" };

/** A plugin reference plus its options (passed through to the plugin's own zod schema). */
export const PluginSpecSchema: z.ZodType<PluginSpec> = z.looseObject(pluginRef).refine(
  exactlyOne,
  oneMessage,
);

const budgetValue = z.union([z.string(), z.number(), z.null()]);

/** The stages a budget object may name besides `run`. */
export const BUDGET_KEYS = ["run", "text", "denoiser", "vae"] as const;

/**
 * The scheduler reference: a plugin spec plus the runtime's `budget`: one budget for the whole run, or
 * `{ run, text, denoiser, vae }` (each optional; a fraction is of that stage's bytes, `run`'s of all stages').
 */
export const SchedulerSpecSchema = z.looseObject({
  ...pluginRef,
  budget: z.union([
    budgetValue,
    z.strictObject({
      run: budgetValue.optional(),
      text: budgetValue.optional(),
      denoiser: budgetValue.optional(),
      vae: budgetValue.optional(),
    }),
  ]).optional(),
}).refine(exactlyOne, oneMessage).superRefine((v, ctx) => {
  if (v.budget === undefined) return;
  const entries: [string[], string | number | null | undefined][] = typeof v.budget === "object" &&
      v.budget !== null
    ? BUDGET_KEYS.map((k) => [["budget", k], (v.budget as Record<string, string | number | null>)[k]])
    : [[["budget"], v.budget as string | number | null]];
  for (const [path, value] of entries) {
    if (value === undefined) continue;
    const parsed = parseBudget(value);
    if (typeof parsed === "string") ctx.addIssue({ code: "custom", path, message: parsed });
  }
});

/** Output formats the runtime writes. */
export const FORMATS = ["mp4", "gif", "png"] as const;

/** The recipe as written (before paths are resolved). Keys match the YAML file. */
export const RecipeSchema = z.strictObject({
  bundle: z.string().min(1),
  /** Used only when `bundle` holds no bundle.json: a random-weight bundle the exporter builds once, cached. */
  bundle_fallback: z.strictObject({
    random: z.string().regex(/^[\w-]+$/, "an exporter preset name such as 'tiny'"),
    dir: z.string().min(1),
  }).optional(),
  /** How to build the bundle (shown when it is missing), e.g. an exporter command line. */
  bundle_build: z.string().min(1).optional(),
  prompt: z.string().min(1).optional(),
  prompts: z.array(z.string().min(1)).min(1).optional(),
  seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(42),
  height: z.number().int().positive().optional(),
  width: z.number().int().positive().optional(),
  frames: z.number().int().positive().optional(),
  fps: z.number().positive().optional(),
  steps: z.number().int().positive().default(30),
  cfg: z.number().nonnegative().default(7),
  /** The timestep schedule: integer base grid (On-device-Sora) and the resolution/length shift (v1.2). */
  schedule: z.strictObject({ discrete: z.boolean().default(false), shift: z.boolean().default(true) })
    .default({ discrete: false, shift: true }),
  sampler: PluginSpecSchema.default({ name: "euler" }),
  token_ops: z.array(PluginSpecSchema).default([]),
  /** At most one step cache (skips model calls' middle blocks); absent = every call computed. */
  step_cache: PluginSpecSchema.optional(),
  scheduler: SchedulerSpecSchema.default({ name: "resident" }),
  executor: PluginSpecSchema.default({ name: "local" }),
  output: z.strictObject({
    dir: z.string().min(1).optional(),
    name: z.string().regex(/^[\w.-]+$/, "a file name of letters, digits, '_', '.', '-'").default("sample"),
    formats: z.array(z.enum(FORMATS)).min(1).default(["mp4"]),
  }).default({ name: "sample", formats: ["mp4"] }),
}).superRefine((v, ctx) => {
  if ((v.prompt === undefined) === (v.prompts === undefined)) {
    ctx.addIssue({ code: "custom", path: ["prompt"], message: "give exactly one of 'prompt' or 'prompts'" });
  }
});

/** The recipe as written, validated and with defaults. */
export type RecipeInput = z.infer<typeof RecipeSchema>;

/** A plugin reference with its options. */
export interface PluginSpec {
  /** A built-in plugin's name. */
  name?: string;
  /** A module path (relative to the recipe file) exporting `plugin`. */
  plugin?: string;
  /** The plugin's own options. */
  [option: string]: unknown;
}
