/**
 * Built-in per-step plugins (token ops and other hooks). `plugins` lists the definitions the registry
 * resolves by name; add one by appending its definition here (never by editing runtime/).
 *
 * @module
 */
import type { PluginDefinition } from "../runtime/core/types.ts";
import { tdtm } from "./tdtm.ts";
import { stepCaches } from "./step_cache/mod.ts";

export { tdtm, tdtmOperators } from "./tdtm.ts";
export { easycache, fixedCache, stepCaches, teacache } from "./step_cache/mod.ts";

/** Built-in plugins of any kind other than samplers and schedulers (token ops, step caches), by name. */
export const plugins: PluginDefinition[] = [tdtm, ...stepCaches];
