/**
 * Built-in per-step plugins (token ops and other hooks). `plugins` lists the definitions the registry
 * resolves by name; add one by appending its definition here (never by editing runtime/).
 *
 * @module
 */
import type { PluginDefinition } from "../runtime/types.ts";
import { tdtm } from "./tdtm.ts";

export { tdtm, tdtmOperators } from "./tdtm.ts";

/** Built-in plugins of any kind other than samplers and schedulers (e.g. token ops), by name. */
export const plugins: PluginDefinition[] = [tdtm];
