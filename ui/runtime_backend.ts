/**
 * The preview UI's backend on the real runtime: recipes from `recipes/` (by name only), the built-in
 * plugins with their option schemas (for the form), and runs of `generate()` with the request's knobs
 * applied as recipe overrides, writing into the run's own folder.
 *
 * @module
 */
import { basename } from "node:path";
import { readdirSync, realpathSync } from "node:fs";
import { z } from "zod";
import { OdsoraError } from "../runtime/core/errors.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe, type PluginSpec, type Recipe } from "../runtime/recipe/recipe.ts";
import type { PluginKind } from "../runtime/core/types.ts";
import { type Backend, RequestError } from "./app.ts";
import { RecipeName, type RunRequest } from "./run_request.ts";
import { recipeFile } from "./safe_path.ts";
import { builtins } from "../builtins.ts";
import { withFallbackBundle } from "../runtime/cli/fallback_bundle.ts";

/** A plugin reference as the form shows it. */
export interface PluginChoice {
  /** Built-in name, or null when the recipe names a module (`plugin: ./x.ts`). */
  name: string | null;
  module: string | null;
  options: Record<string, unknown>;
}

/** What the form starts from for one recipe. */
export interface RecipeSummary {
  name: string;
  bundle: string;
  prompt: string;
  seed: number;
  steps: number;
  sampler: PluginChoice;
  /** The recipe's token ops, in order. */
  tokenOps: PluginChoice[];
  scheduler: PluginChoice;
  /** The budget in the recipe's syntax, or null for unlimited. */
  budget: string | null;
}

function choice(spec: PluginSpec): PluginChoice {
  const { name, plugin, ...options } = spec;
  return { name: name ?? null, module: plugin ?? null, options };
}

const UNITS: [number, string][] = [[2 ** 30, "GiB"], [1e9, "GB"], [2 ** 20, "MiB"], [1e6, "MB"], [
  2 ** 10,
  "KiB",
]];

function budgetText(budget: Recipe["budget"]): string | null {
  if (budget === null) return null;
  if ("fraction" in budget) return `${+(budget.fraction * 100).toFixed(4)}%`;
  const fit = UNITS.find(([unit]) => budget.bytes >= unit && Number.isInteger((budget.bytes * 100) / unit));
  return fit ? `${budget.bytes / fit[0]}${fit[1]}` : String(budget.bytes);
}

function summarize(name: string, recipe: Recipe): RecipeSummary {
  return {
    name,
    bundle: basename(recipe.bundle),
    prompt: recipe.prompts[0],
    seed: recipe.seed,
    steps: recipe.steps,
    sampler: choice(recipe.sampler),
    tokenOps: recipe.tokenOps.map(choice),
    scheduler: choice(recipe.scheduler),
    budget: budgetText(recipe.budget),
  };
}

/** The recipe keys a request replaces, by dotted path (as `loadRecipe`'s overrides). */
function overridesFor(request: RunRequest, base: Recipe, runDir: string): Record<string, unknown> {
  const overrides: Record<string, unknown> = {
    prompt: request.prompt,
    seed: request.seed,
    steps: request.steps,
    "output.dir": runDir,
    "output.name": "video",
    "output.formats": ["mp4", "gif"],
  };
  if (request.sampler) overrides.sampler = { name: request.sampler.name, ...request.sampler.options };
  if (request.tokenOps) {
    overrides.token_ops = request.tokenOps.map((op) => ({ name: op.name, ...op.options }));
  }
  if (request.scheduler) {
    const budget = request.scheduler.budget === undefined
      ? budgetText(base.budget)
      : request.scheduler.budget;
    overrides.scheduler = { name: request.scheduler.name, ...request.scheduler.options, budget };
  }
  return overrides;
}

/** The built-in plugins of `kind` with the JSON schema of their options (what the form renders). */
function pluginList(kind: PluginKind) {
  return builtins.definitions(kind).map((d) => ({
    name: d.name,
    options: z.toJSONSchema(d.options, { io: "input" }),
  }));
}

/**
 * A {@link Backend} over the runtime, reading recipes from `recipesDir`.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * const app = createApp({ backend: runtimeBackend({ recipesDir: "recipes" }), outDir: "out/ui" });
 * ```
 */
export function runtimeBackend(options: { recipesDir: string }): Backend {
  const { recipesDir } = options;
  const root = realpathSync(recipesDir);
  return {
    async recipes() {
      const names = readdirSync(recipesDir).filter((f) => f.endsWith(".yaml"))
        .map((f) => f.slice(0, -".yaml".length)).filter((n) => RecipeName.safeParse(n).success).sort();
      const out: RecipeSummary[] = [];
      for (const name of names) {
        try {
          out.push(summarize(name, await loadRecipe(recipeFile(recipesDir, name))));
        } catch (error) {
          console.error(`odsora ui: skipping recipe "${name}": ${(error as Error).message}`);
        }
      }
      return out;
    },
    plugins() {
      return Promise.resolve({
        sampler: pluginList("sampler"),
        "token-op": pluginList("token-op"),
        scheduler: pluginList("scheduler"),
      });
    },
    async prepare(request, runDir) {
      const file = recipeFile(recipesDir, request.recipe);
      let recipe: Recipe;
      try {
        const base = await loadRecipe(file);
        recipe = await loadRecipe(file, {
          overrides: overridesFor(request, base, runDir),
          overrideLabel: (key) => `'${key}' of the request`,
        });
        await builtins.resolve("sampler", recipe.sampler, recipe.baseDir);
        for (const op of recipe.tokenOps) await builtins.resolve("token-op", op, recipe.baseDir);
        await builtins.resolve("scheduler", recipe.scheduler, recipe.baseDir);
      } catch (error) {
        if (error instanceof OdsoraError) {
          throw new RequestError(error.message.replaceAll(`${root}/`, "recipes/"));
        }
        throw error;
      }
      return async (emit, signal, warn) => {
        const clean = (message: string) => warn(message.replaceAll(`${root}/`, "recipes/"));
        await generate(await withFallbackBundle(recipe, clean), {
          registry: builtins,
          emit,
          signal,
          warn: clean,
        });
      };
    },
  };
}
