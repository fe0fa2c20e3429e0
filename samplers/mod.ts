/**
 * Samplers. `samplers` lists the built-ins the registry resolves by
 * name; add a sampler by appending its definition here.
 *
 * @module
 */
import type { PluginDefinition } from "../runtime/core/types.ts";
import { euler } from "./euler.ts";
import { lpl } from "./lpl.ts";
import { lplDynamic } from "./lpl_dynamic.ts";

export { euler, eulerDt, sampleEuler } from "./euler.ts";
export { lpl, lplOptions } from "./lpl.ts";
export { lplDynamic, lplDynamicOptions } from "./lpl_dynamic.ts";

/** Built-in sampler plugins, by name. */
export const samplers: PluginDefinition<"sampler">[] = [euler, lpl, lplDynamic];
