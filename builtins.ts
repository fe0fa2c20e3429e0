/**
 * The built-in plugins, assembled at the edge: the samplers, token ops, memory schedulers and executors
 * this repository ships, as one registry. The CLI, the UI, the bench and `mod.ts` hand it to the runtime;
 * `runtime/` itself imports no plugin folder.
 *
 * @example
 * ```ts
 * import { builtins } from "./builtins.ts";
 * const sampler = await builtins.resolve("sampler", { name: "euler" }, ".");
 * console.assert(sampler.name === "euler");
 * ```
 *
 * @module
 */
import { ios } from "./ios-bridge/executor.ts";
import { plugins } from "./plugins/mod.ts";
import { local } from "./runtime/local/executor_local.ts";
import { createRegistry, type PluginSpec, type Registry } from "./runtime/core/registry.ts";
import type { PluginDefinition, PluginKind, PluginKinds } from "./runtime/core/types.ts";
import { samplers } from "./samplers/mod.ts";
import { schedulers } from "./schedulers/mod.ts";

/** Every built-in plugin definition. */
export const builtinDefinitions: readonly PluginDefinition[] = [
  ...samplers,
  ...plugins,
  ...schedulers,
  local as PluginDefinition,
  ios as PluginDefinition,
];

/** The registry of the built-ins (and of modules a recipe names by path). */
export const builtins: Registry = createRegistry(builtinDefinitions);

/** The built-in definitions of `kind` (all when absent). */
export function builtinPlugins(kind?: PluginKind): PluginDefinition[] {
  return builtins.definitions(kind);
}

/** Resolve, configure and create the plugin a spec names, against the built-ins. */
export function resolvePlugin<K extends PluginKind>(
  kind: K,
  spec: PluginSpec,
  baseDir: string,
): Promise<PluginKinds[K]> {
  return builtins.resolve(kind, spec, baseDir);
}

/** The definition a spec names, against the built-ins. */
export function resolveDefinition<K extends PluginKind>(
  kind: K,
  spec: PluginSpec,
  baseDir: string,
): Promise<PluginDefinition<K>> {
  return builtins.resolveDefinition(kind, spec, baseDir);
}
