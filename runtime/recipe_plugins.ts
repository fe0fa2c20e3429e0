/**
 * A recipe's plugins and budgets, resolved: plugin specs go through the registry, and a plugin error
 * gains the recipe location of its spec (file, line or command-line option, key path).
 *
 * @module
 */
import { PluginError } from "./errors.ts";
import type { PluginSpec, Recipe } from "./recipe.ts";
import { resolvePlugin } from "./registry.ts";
import type { Budget, PluginKind, PluginKinds } from "./types.ts";

/**
 * Resolve one plugin spec of a recipe; errors name where the recipe set it.
 *
 * @example
 * ```ts ignore
 * const sampler = await resolveRecipePlugin(recipe, "sampler", recipe.sampler, ["sampler"]);
 * ```
 */
export async function resolveRecipePlugin<K extends PluginKind>(
  recipe: Recipe,
  kind: K,
  spec: PluginSpec,
  key: (string | number)[],
): Promise<PluginKinds[K]> {
  try {
    return await resolvePlugin(kind, spec, recipe.baseDir) as PluginKinds[K];
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    const where = recipe.locate(key);
    const at = `${recipe.file ?? "recipe"}${where ? ` ${where}` : ""}, key '${key.join(".")}'`;
    throw new PluginError(`${e.message} (${at})`, e.plugin, e.hook, { cause: e });
  }
}

/**
 * The sampler, token ops, step cache (or null) and memory scheduler a recipe names (the executor is
 * resolved by the run).
 */
export async function resolveRecipePlugins(recipe: Recipe) {
  const sampler = await resolveRecipePlugin(recipe, "sampler", recipe.sampler, ["sampler"]);
  const tokenOps: PluginKinds["token-op"][] = [];
  for (const [i, spec] of recipe.tokenOps.entries()) {
    tokenOps.push(await resolveRecipePlugin(recipe, "token-op", spec, ["token_ops", i]));
  }
  const stepCache = recipe.stepCache
    ? await resolveRecipePlugin(recipe, "step-cache", recipe.stepCache, ["step_cache"])
    : null;
  const scheduler = await resolveRecipePlugin(recipe, "scheduler", recipe.scheduler, ["scheduler"]);
  return { sampler, tokenOps, stepCache, scheduler };
}

/**
 * The budget of a stage whose blocks total `bytes`: absolute, a fraction of them, or unlimited.
 *
 * @example
 * ```ts ignore
 * stageBudget(recipe, 1e9); // { bytes: 5e8 } for `budget: 50%`
 * ```
 */
export function stageBudget(recipe: Recipe, bytes: number): Budget {
  const b = recipe.budget;
  if (b === null) return { bytes: null };
  return { bytes: "bytes" in b ? b.bytes : Math.floor(b.fraction * bytes) };
}
