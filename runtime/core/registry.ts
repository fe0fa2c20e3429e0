/**
 * The plugin registry: resolves a recipe's plugin spec to a plugin instance, from the definitions it was
 * built with (the edge assembles them: builtins.ts) by name, or from a user module that exports
 * `plugin: PluginDefinition`. It owns the ceremony every plugin would otherwise repeat: the options are
 * validated once by the plugin's own zod schema, and `name` and `kind` are stamped on the instance.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { PluginError } from "./errors.ts";
import type { z } from "zod";
import type { PluginDefinition, PluginKind, PluginKinds } from "./types.ts";

/** How a recipe names a plugin: a built-in `name`, or a module path `plugin`, plus the plugin's options. */
export interface PluginSpec {
  name?: string;
  plugin?: string;
  [option: string]: unknown;
}

/** Resolves plugin specs against a fixed list of built-in definitions (and modules named by path). */
export interface Registry {
  /** The built-in definitions, of one kind or all. */
  definitions(kind?: PluginKind): PluginDefinition[];
  /** The definition a spec names, checked to be of `kind`. */
  resolveDefinition<K extends PluginKind>(
    kind: K,
    spec: PluginSpec,
    baseDir: string,
  ): Promise<PluginDefinition<K>>;
  /** Resolve, configure and create the plugin a spec names. */
  resolve<K extends PluginKind>(kind: K, spec: PluginSpec, baseDir: string): Promise<PluginKinds[K]>;
}

const HOOKS: Record<PluginKind, string[]> = {
  sampler: ["sample"],
  "token-op": ["operators"],
  "step-cache": ["decide", "update"],
  scheduler: ["plan"],
  executor: ["start", "load", "run", "unload", "memory", "close"],
};

/**
 * Type a plugin definition: the factory's options are `z.infer` of the schema (validated, defaults applied)
 * and it returns the kind's hooks alone.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { definePlugin } from "./registry.ts";
 * export const plugin = definePlugin({
 *   name: "still",
 *   kind: "sampler",
 *   options: z.object({}).strict(),
 *   create: () => ({ sample: (_model, x) => Promise.resolve(x) }),
 * });
 * ```
 */
export function definePlugin<K extends PluginKind, S extends z.ZodType>(
  definition: PluginDefinition<K, S>,
): PluginDefinition<K, S> {
  return definition;
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
 * Validate `raw` options with the definition's schema, create the instance, stamp its `name` and `kind`,
 * and check it has every hook of its kind. Errors are `PluginError`s naming the plugin and the hook.
 *
 * @example
 * ```ts ignore
 * const sampler = instantiate(euler, {});
 * console.assert(sampler.name === "euler" && sampler.kind === "sampler");
 * ```
 */
export function instantiate<K extends PluginKind>(
  definition: PluginDefinition<K>,
  raw: Record<string, unknown> = {},
): PluginKinds[K] {
  const { kind, name } = definition;
  const parsed = definition.options.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue.path.map(String).join(".");
    throw new PluginError(
      `Cannot configure ${kind} '${name}': ${key ? `option '${key}' ` : ""}${issue.message}`.replace(
        /\s+$/,
        "",
      ),
      name,
      "options",
    );
  }
  let hooks: unknown;
  try {
    hooks = definition.create(parsed.data);
  } catch (e) {
    throw new PluginError(`Cannot create ${kind} '${name}': ${(e as Error).message}`, name, "create", {
      cause: e,
    });
  }
  const missing = HOOKS[kind].filter((h) =>
    typeof (hooks as Record<string, unknown> | null)?.[h] !== "function"
  );
  if (missing.length > 0) {
    throw new PluginError(
      `Cannot create ${kind} '${name}': it lacks hook '${missing.join("', '")}'`,
      name,
      missing[0],
    );
  }
  const instance = hooks as Record<string, unknown>;
  // Stamped on the instance itself so class instances keep their prototype (an executor is one).
  const stamped = Object.isFrozen(instance) ? Object.create(instance) : instance;
  Object.defineProperty(stamped, "name", { value: name, enumerable: true, configurable: true });
  Object.defineProperty(stamped, "kind", { value: kind, enumerable: true, configurable: true });
  return stamped as PluginKinds[K];
}

/**
 * A registry over `builtins` (the edge assembles the list: the runtime itself knows no plugin).
 *
 * @example
 * ```ts ignore
 * import { createRegistry } from "./registry.ts";
 * const registry = createRegistry([euler, resident, local]);
 * const sampler = await registry.resolve("sampler", { name: "euler" }, ".");
 * ```
 */
export function createRegistry(builtins: readonly PluginDefinition[]): Registry {
  const definitions = (kind?: PluginKind) => kind ? builtins.filter((d) => d.kind === kind) : [...builtins];
  const resolveDefinition = async <K extends PluginKind>(
    kind: K,
    spec: PluginSpec,
    baseDir: string,
  ): Promise<PluginDefinition<K>> => {
    let def: PluginDefinition;
    if (typeof spec.plugin === "string") {
      def = await loadModule(kind, spec.plugin, baseDir);
    } else if (typeof spec.name === "string") {
      const found = definitions(kind).find((d) => d.name === spec.name);
      if (!found) {
        const known = definitions(kind).map((d) => d.name).join("', '");
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
  };
  return {
    definitions,
    resolveDefinition,
    async resolve<K extends PluginKind>(kind: K, spec: PluginSpec, baseDir: string): Promise<PluginKinds[K]> {
      const def = await resolveDefinition(kind, spec, baseDir);
      const { name: _name, plugin: _plugin, ...raw } = spec;
      return instantiate(def, raw);
    },
  };
}
