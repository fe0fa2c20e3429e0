/**
 * Memory schedulers: pure planners that return their plan as data. `schedulers` lists the built-ins the
 * registry resolves by name; add a scheduler by appending its definition here.
 *
 * @module
 */
import type { PluginDefinition } from "../runtime/core/types.ts";
import { resident } from "./resident.ts";
import { sequential } from "./sequential.ts";
import { concurrent } from "./concurrent.ts";
import { ciDl } from "./ci_dl.ts";

export { planResident, resident } from "./resident.ts";
export { planSequential, sequential } from "./sequential.ts";
export { blockNeed, checkBudget, checkEachBlock, laneWorkBytes } from "./budget.ts";
export { concurrent } from "./concurrent.ts";
export { ciDl, fitStreamingPlan } from "./ci_dl.ts";

/** Built-in scheduler plugins, by name. */
export const schedulers: PluginDefinition<"scheduler">[] = [resident, sequential, concurrent, ciDl];
