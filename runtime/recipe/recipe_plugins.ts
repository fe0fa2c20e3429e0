/**
 * A recipe's plugins and budgets, resolved: plugin specs go through the registry, and a plugin error
 * gains the recipe location of its spec (file, line or command-line option, key path).
 *
 * @module
 */
import { formatBytes, PluginError, RecipeError } from "../core/errors.ts";
import { type BudgetSpec, locate, type PluginSpec, type Recipe } from "./recipe.ts";
import type { Registry } from "../core/registry.ts";
import type { PluginKind, PluginKinds, StageName } from "../core/types.ts";

/**
 * Resolve one plugin spec of a recipe; errors name where the recipe set it.
 *
 * @example
 * ```ts ignore
 * const sampler = await resolveRecipePlugin(registry, recipe, "sampler", recipe.sampler, ["sampler"]);
 * ```
 */
export async function resolveRecipePlugin<K extends PluginKind>(
  registry: Registry,
  recipe: Recipe,
  kind: K,
  spec: PluginSpec,
  key: (string | number)[],
): Promise<PluginKinds[K]> {
  try {
    return await registry.resolve(kind, spec, recipe.baseDir);
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    const where = locate(recipe, key);
    const at = `${recipe.file ?? "recipe"}${where ? ` ${where}` : ""}, key '${key.join(".")}'`;
    throw new PluginError(`${e.message} (${at})`, e.plugin, e.hook, { cause: e });
  }
}

/**
 * The sampler, token ops, step cache (or null) and memory scheduler a recipe names (the executor is
 * resolved by the run).
 */
export async function resolveRecipePlugins(registry: Registry, recipe: Recipe) {
  const sampler = await resolveRecipePlugin(registry, recipe, "sampler", recipe.sampler, ["sampler"]);
  const tokenOps: PluginKinds["token-op"][] = [];
  for (const [i, spec] of recipe.tokenOps.entries()) {
    tokenOps.push(await resolveRecipePlugin(registry, recipe, "token-op", spec, ["token_ops", i]));
  }
  const stepCache = recipe.stepCache
    ? await resolveRecipePlugin(registry, recipe, "step-cache", recipe.stepCache, ["step_cache"])
    : null;
  const scheduler = await resolveRecipePlugin(registry, recipe, "scheduler", recipe.scheduler, ["scheduler"]);
  return { sampler, tokenOps, stepCache, scheduler };
}

/** A budget spec in bytes given the bytes a fraction is of; null = unlimited. */
function budgetBytes(spec: BudgetSpec, of: number): number | null {
  if (spec === null) return null;
  return "bytes" in spec ? spec.bytes : Math.floor(spec.fraction * of);
}

/** The run's budget and the stages' own, in bytes. */
export interface RunBudgets {
  /** Bound on the run's added peak RSS; null = unlimited. */
  run: number | null;
  /** Bounds on what each stage adds over its start, where the recipe sets them. */
  stages: Partial<Record<StageName, number>>;
}

/**
 * The run's budget (a fraction is of all stages' bytes) and the stages' own (a fraction is of that
 * stage's bytes). Stage budgets must sum within the run's; with stage budgets for all three stages and no
 * run budget, the run's is their sum.
 *
 * @example
 * ```ts ignore
 * runBudgets(recipe, { text: 1e8, denoiser: 1e9, vae: 1e7 }); // { run: 555000000, stages: {} } for 50%
 * ```
 */
export function runBudgets(recipe: Recipe, stageBytes: Record<StageName, number>): RunBudgets {
  const total = stageBytes.text + stageBytes.denoiser + stageBytes.vae;
  let run = budgetBytes(recipe.budget, total);
  const stages: RunBudgets["stages"] = {};
  for (const [stage, spec] of Object.entries(recipe.stageBudgets) as [StageName, BudgetSpec][]) {
    const bytes = budgetBytes(spec, stageBytes[stage]);
    if (bytes !== null) stages[stage] = bytes;
  }
  const values = Object.values(stages);
  const sum = values.reduce((a, b) => a + b, 0);
  if (run === null && values.length === 3) run = sum;
  if (run !== null && sum > run) {
    const where = locate(recipe, ["scheduler", "budget"]);
    throw new RecipeError(
      `Cannot use the memory budget: the stages' budgets sum to ${formatBytes(sum)}, over the run's ${
        formatBytes(run)
      } (${recipe.file ?? "recipe"}${where ? ` ${where}` : ""}, key 'scheduler.budget')`,
    );
  }
  return { run, stages };
}
