/**
 * Built-in step caches (skip a model call's middle blocks and reuse the last computed residual).
 * `stepCaches` lists the definitions the registry resolves by name.
 *
 * @module
 */
import type { PluginDefinition } from "../../runtime/core/types.ts";
import { easycache } from "./easycache.ts";
import { fixedCache } from "./fixed.ts";
import { teacache } from "./teacache.ts";

export { DEFAULT_COEFFICIENTS, teacache, teacacheOptions } from "./teacache.ts";
export { easycache, easycacheOptions } from "./easycache.ts";
export { fixedCache, fixedCacheOptions } from "./fixed.ts";
export { meanAbs, modulatedInput, polyval, relL1 } from "./signals.ts";

/** Built-in step-cache plugins, by name. */
export const stepCaches: PluginDefinition<"step-cache">[] = [teacache, easycache, fixedCache];
