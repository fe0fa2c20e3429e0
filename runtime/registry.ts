/**
 * The plugin registry: resolves a recipe's plugin spec to a plugin instance, from the built-ins
 * (samplers/mod.ts, plugins/mod.ts, schedulers/mod.ts, the local and ios executors) by name, or from a user module
 * that exports `plugin: PluginDefinition`, with options validated by the plugin's own zod schema.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { plugins } from "../plugins/mod.ts";
import { samplers } from "../samplers/mod.ts";
import { schedulers } from "../schedulers/mod.ts";
import { PluginError } from "./errors.ts";
import { local } from "./executor_local.ts";
import { ios } from "../ios-bridge/executor.ts";
import type { PluginDefinition, PluginKind, PluginKinds } from "./types.ts";

/** How a recipe names a plugin: a built-in `name`, or a module path `plugin`, plus the plugin's options. */
export interface PluginSpec {
  name?: string;
  plugin?: string;
  [option: string]: unknown;
}

const HOOKS: Record<PluginKind, string[]> = {
  sampler: ["sample"],
  "token-op": ["operators"],
  "step-cache": ["decide", "update"],
  scheduler: ["plan"],
  executor: ["start", "load", "run", "unload", "memory", "close"],
};

/** Every built-in plugin definition (read at call time, so lists appended to later are seen). */
export function builtinPlugins(kind?: PluginKind): PluginDefinition[] {
  const all: PluginDefinition[] = [
    ...samplers,
    ...plugins,
    ...schedulers,
    local as PluginDefinition,
    ios as PluginDefinition,
  ];
  return kind ? all.filter((d) => d.kind === kind) : all;
}

function isDefinition(x: unknown): x is PluginDefinition {
  const d = x as PluginDefinition | null;
  return typeof d === "object" && d !== null && typeof d.name === "string" && typeof d.kind === "string" &&
    typeof d.create === "function" && typeof (d.options as { safeParse?: unknown })?.safeParse === "function";
}

async function loadModule(kind: PluginKind, path: string, baseDir: string): Promise<PluginDefinition> {
  const file = isAbsolute(path) ? path : resolve(baseDir, path);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    throw new PluginError(
      `Cannot load ${kind} plugin module '${file}': ${(e as Error).message}`,
      path,
      "resolve",
      { cause: e },
    );
  }
  if (!isDefinition(mod.plugin)) {
    throw new PluginError(
      `Cannot load ${kind} plugin module '${file}': it does not export 'plugin' ({ name, kind, options, create })`,
      path,
      "resolve",
    );
  }
  return mod.plugin;
}

/**
 * The definition a spec names, checked to be of `kind`.
 *
 * @example
 * ```ts
 * import { resolveDefinition } from "./registry.ts";
 * const def = await resolveDefinition("sampler", { name: "euler" }, ".");
 * console.assert(def.name === "euler");
 * ```
 */
export async function resolveDefinition<K extends PluginKind>(
  kind: K,
  spec: PluginSpec,
  baseDir: string,
): Promise<PluginDefinition<K>> {
  let def: PluginDefinition;
  if (typeof spec.plugin === "string") {
    def = await loadModule(kind, spec.plugin, baseDir);
  } else if (typeof spec.name === "string") {
    const found = builtinPlugins(kind).find((d) => d.name === spec.name);
    if (!found) {
      const known = builtinPlugins(kind).map((d) => d.name).join("', '");
      throw new PluginError(
        `Cannot resolve ${kind} '${spec.name}': no built-in has that name (built-ins: '${known}'); ` +
          `use 'plugin: ./path.ts' for a module`,
        spec.name,
        "resolve",
      );
    }
    def = found;
  } else {
    throw new PluginError(
      `Cannot resolve ${kind}: the spec has neither 'name' nor 'plugin'`,
      "(unnamed)",
      "resolve",
    );
  }
  if (def.kind !== kind) {
    throw new PluginError(
      `Cannot use plugin '${def.name}' as a ${kind}: it is a '${def.kind}' plugin`,
      def.name,
      "resolve",
    );
  }
  return def as PluginDefinition<K>;
}

/**
 * Resolve, configure and create the plugin a spec names.
 *
 * @example
 * ```ts
 * import { resolvePlugin } from "./registry.ts";
 * const sampler = await resolvePlugin("sampler", { name: "euler" }, ".");
 * console.assert(sampler.kind === "sampler");
 * ```
 */
export async function resolvePlugin<K extends PluginKind>(
  kind: K,
  spec: PluginSpec,
  baseDir: string,
): Promise<PluginKinds[K]> {
  const def = await resolveDefinition(kind, spec, baseDir);
  const { name: _name, plugin: _plugin, ...raw } = spec;
  const parsed = def.options.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue.path.map(String).join(".");
    throw new PluginError(
      `Cannot configure ${kind} '${def.name}': ${key ? `option '${key}' ` : ""}${issue.message}`.replace(
        /\s+$/,
        "",
      ),
      def.name,
      "options",
    );
  }
  let instance: PluginKinds[K];
  try {
    instance = def.create(parsed.data) as PluginKinds[K];
  } catch (e) {
    throw new PluginError(
      `Cannot create ${kind} '${def.name}': ${(e as Error).message}`,
      def.name,
      "create",
      { cause: e },
    );
  }
  const missing = HOOKS[kind].filter((h) =>
    typeof (instance as unknown as Record<string, unknown>)?.[h] !== "function"
  );
  if (missing.length > 0) {
    throw new PluginError(
      `Cannot create ${kind} '${def.name}': it lacks hook '${missing.join("', '")}'`,
      def.name,
      missing[0],
    );
  }
  return instance;
}
