/**
 * Recipes: YAML files (npm `yaml`) validated by zod (runtime/recipe/recipe_schema.ts) into a typed
 * {@link Recipe}. Every problem is a `RecipeError` naming the file, the key path and the line (from the
 * YAML document's source ranges). Command-line overrides are applied before validation and are named
 * as such in errors.
 *
 * @module
 */
import { resolve } from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { RecipeError } from "../core/errors.ts";
import {
  type BudgetSpec,
  type FORMATS,
  parseBudget,
  type PluginSpec,
  RecipeSchema,
} from "./recipe_schema.ts";

export { type BudgetSpec, parseBudget, type PluginSpec } from "./recipe_schema.ts";

/** A validated recipe with paths resolved and defaults applied (frame size/fps may come from the bundle). */
export interface Recipe {
  /** The recipe file (absolute), or null for a recipe given as text. */
  file: string | null;
  /** Folder that relative module paths in the recipe resolve against. */
  baseDir: string;
  /** Absolute bundle folder. */
  bundle: string;
  /** A random bundle to build (preset) and use (absolute dir) when `bundle` has no bundle.json. */
  bundleFallback: { random: string; dir: string } | null;
  /** How to build the bundle (for the missing-bundle message), or null. */
  bundleBuild: string | null;
  prompts: string[];
  seed: number;
  height: number | null;
  width: number | null;
  frames: number | null;
  fps: number | null;
  steps: number;
  cfg: number;
  schedule: { discrete: boolean; shift: boolean };
  sampler: PluginSpec;
  tokenOps: PluginSpec[];
  /** The step-cache plugin spec, or null (every model call computed). */
  stepCache: PluginSpec | null;
  /** The scheduler plugin spec (without `budget`). */
  scheduler: PluginSpec;
  /** The run's budget on added RSS (a fraction is of all stages' bytes). */
  budget: BudgetSpec;
  /** Per-stage budgets (`budget: { text, denoiser, vae }`; a fraction is of that stage's bytes). */
  stageBudgets: Partial<Record<"text" | "denoiser" | "vae", BudgetSpec>>;
  executor: PluginSpec;
  output: { dir: string; name: string; formats: (typeof FORMATS)[number][] };
  /**
   * Where each key path was set, by dotted path (`"sampler.leapAt"`, `"token_ops.0"`): `"line 7"` for the
   * file, `"option --seed"` for an override (read it with {@link locate}).
   */
  origins: Readonly<Record<string, string>>;
}

/** Options of {@link parseRecipe} / {@link loadRecipe}. */
export interface RecipeOptions {
  /** The file the text came from (for messages and relative paths). */
  file?: string | null;
  /** Values that replace recipe keys, by dotted key path (`"output.dir"`), e.g. from CLI flags. */
  overrides?: Record<string, unknown>;
  /** Label for an override key in messages, e.g. `output.dir` → `"--out"`. Defaults to the key path. */
  overrideLabel?: (key: string) => string;
  /** Folder for a relative `output.dir` override (default: the current directory). */
  cwd?: string;
}

type Path = readonly (string | number)[];

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/**
 * Parse recipe text into a {@link Recipe}; throws `RecipeError` with file, key path and line.
 *
 * @example
 * ```ts
 * import { parseRecipe } from "./recipe.ts";
 * const recipe = parseRecipe("bundle: ../models/default\nprompt: a red circle\nsteps: 10\n", { file: "recipes/x.yaml" });
 * console.assert(recipe.steps === 10 && recipe.sampler.name === "euler");
 * ```
 */
export function parseRecipe(text: string, options: RecipeOptions = {}): Recipe {
  const file = options.file ? resolve(options.file) : null;
  const shown = options.file ?? "<recipe>";
  const fail = (where: string, message: string, path: Path = [], line: number | null = null): never => {
    throw new RecipeError(`Cannot read recipe '${shown}': ${where}${message}`, {
      file: shown,
      path: path.map(String).join(".") || null,
      line,
    });
  };
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const line = err.linePos?.[0].line ?? (err.pos ? lines.linePos(err.pos[0]).line : null);
    fail(line ? `line ${line}: ` : "", `malformed YAML (${err.message.split("\n")[0]})`, [], line);
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    fail("line 1: ", "a recipe is a mapping of keys to values");
  }
  const overrides = options.overrides ?? {};
  const label = options.overrideLabel ?? ((k: string) => `'${k}'`);
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (key === "prompt") delete raw.prompts;
    if (key === "prompts") delete raw.prompt;
    setPath(raw, key.split("."), value);
  }

  const overrideFor = (path: Path): string | null => {
    const dotted = path.map(String).join(".");
    return Object.keys(overrides).find((k) => overrides[k] !== undefined && related(dotted, k)) ?? null;
  };
  const lineOf = (path: Path, key?: string): number | null => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (n === path.length && key !== undefined && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
        const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
        if (range) return lines.linePos(range[0]).line;
      }
      const range = (node as { range?: [number, number, number] } | null)?.range;
      if (range) return lines.linePos(range[0]).line;
    }
    return null;
  };
  const origins: Record<string, string> = {};
  const record = (node: unknown, path: string[]) => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (path.length && range) origins[path.join(".")] = `line ${lines.linePos(range[0]).line}`;
    if (isMap(node)) {
      for (const p of node.items) {
        if (isPair(p) && isScalar(p.key)) record(p.value ?? p.key, [...path, String(p.key.value)]);
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => record(item, [...path, String(i)]));
  };
  record(doc.contents, []);
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) origins[key] = `option ${label(key)}`;
  }

  const parsed = RecipeSchema.safeParse(raw);
  if (!parsed.success) {
    const described = parsed.error.issues.map((issue: z.core.$ZodIssue) => {
      const key = issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
      const path = key === undefined ? issue.path as Path : [...issue.path as Path, key];
      const o = overrideFor(path);
      const line = o ? null : lineOf(issue.path as Path, key);
      const message = issue.code === "unrecognized_keys" ? `unknown key '${key}'` : issue.message;
      return { path, line, o, message };
    }).sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    const first = described[0];
    const where = first.o
      ? `${label(first.o)} (key '${first.path.join(".")}'): `
      : `${first.line ? `line ${first.line}, ` : ""}key '${first.path.join(".") || "(top)"}': `;
    fail(where, first.message, first.path, first.line);
  }
  const r = parsed.data!;
  const baseDir = file ? resolve(file, "..") : resolve(options.cwd ?? Deno.cwd());
  const outDirOverride = overrides["output.dir"] !== undefined;
  const outDir = r.output.dir ?? "out";
  const { budget, ...scheduler } = r.scheduler;
  return {
    file,
    baseDir,
    // a recipe's paths are relative to the recipe; a command-line --bundle to the current directory
    bundle: resolve(overrides.bundle !== undefined ? options.cwd ?? Deno.cwd() : baseDir, r.bundle),
    bundleFallback: r.bundle_fallback
      ? { random: r.bundle_fallback.random, dir: resolve(baseDir, r.bundle_fallback.dir) }
      : null,
    bundleBuild: r.bundle_build ?? null,
    prompts: r.prompts ?? [r.prompt!],
    seed: r.seed,
    height: r.height ?? null,
    width: r.width ?? null,
    frames: r.frames ?? null,
    fps: r.fps ?? null,
    steps: r.steps,
    cfg: r.cfg,
    schedule: r.schedule,
    sampler: r.sampler,
    tokenOps: r.token_ops,
    stepCache: r.step_cache ?? null,
    scheduler,
    ...budgets(budget),
    executor: r.executor,
    output: {
      // a recipe's output.dir is relative to the recipe; a command-line one (or the default) to the cwd
      dir: resolve(r.output.dir && !outDirOverride ? baseDir : options.cwd ?? Deno.cwd(), outDir),
      name: r.output.name,
      formats: [...new Set(r.output.formats)],
    },
    origins,
  };
}

/**
 * Where key `path` of `recipe` was set: `"line 7"`, `"option --seed"` (an override of the key, of a key
 * above it or below it), or null when it was defaulted.
 *
 * @example
 * ```ts
 * import { locate, parseRecipe } from "./recipe.ts";
 * const recipe = parseRecipe("bundle: b\nprompt: p\nsteps: 10\n", { overrides: { seed: 7 } });
 * console.assert(locate(recipe, ["steps"]) === "line 3" && locate(recipe, ["seed"]) === "option 'seed'");
 * ```
 */
export function locate(recipe: Pick<Recipe, "origins">, path: readonly (string | number)[]): string | null {
  const dotted = path.map(String).join(".");
  for (const [key, where] of Object.entries(recipe.origins)) {
    if (where.startsWith("option ") && related(dotted, key)) return where;
  }
  return recipe.origins[dotted] ?? null;
}

/** Whether dotted key paths `a` and `b` are the same key or one lies inside the other. */
function related(a: string, b: string): boolean {
  return a === b || a.startsWith(b + ".") || b.startsWith(a + ".");
}

/** The run's and the stages' budgets from the recipe's `scheduler.budget` (validated by the schema). */
function budgets(
  value: string | number | null | Partial<Record<string, string | number | null>> | undefined,
): Pick<Recipe, "budget" | "stageBudgets"> {
  const one = (
    v: string | number | null | undefined,
  ) => (v === undefined ? null : parseBudget(v) as BudgetSpec);
  if (value === null || typeof value !== "object") return { budget: one(value), stageBudgets: {} };
  const stageBudgets: Recipe["stageBudgets"] = {};
  for (const k of ["text", "denoiser", "vae"] as const) {
    if (value[k] !== undefined) stageBudgets[k] = one(value[k]);
  }
  return { budget: one(value.run), stageBudgets };
}

/** Read and parse a recipe file; a missing or unreadable file is a `RecipeError` too. */
export async function loadRecipe(path: string, options: Omit<RecipeOptions, "file"> = {}): Promise<Recipe> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const state = e instanceof Deno.errors.NotFound ? "the file does not exist" : (e as Error).message;
    throw new RecipeError(`Cannot read recipe '${path}': ${state}`, { file: path }, { cause: e });
  }
  return parseRecipe(text, { ...options, file: path });
}
