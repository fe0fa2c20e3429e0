/**
 * The `resident` memory scheduler: load every block once before the first pass and keep them all loaded
 * across passes (fastest; needs the whole stage's weights in memory).
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../runtime/core/registry.ts";
import type { Budget, PlanShape, StageInfo } from "../runtime/core/types.ts";
import { checkBudget, checkEachBlock, laneCost, laneWorkBytes } from "./budget.ts";

/**
 * Plan: setup loads all blocks on lane 0, each pass runs them in order, teardown unloads them.
 *
 * @example
 * ```ts
 * import { planResident } from "./resident.ts";
 * const plan = planResident({ stage: "vae", passes: 1, blocks: [{ name: "a", bytes: 10, workBytes: 2 }] }, { bytes: null });
 * console.assert(plan.peakBytes === 12);
 * ```
 */
export function planResident(stage: StageInfo, budget: Budget): PlanShape {
  checkEachBlock("resident", stage, budget);
  const weights = stage.blocks.reduce((s, b) => s + b.bytes, 0);
  const work = laneWorkBytes(stage);
  const peakBytes = weights + work + laneCost(budget, 1);
  checkBudget("resident", stage, peakBytes, budget, `keeping all ${stage.blocks.length} blocks loaded`);
  const names = stage.blocks.map((b) => b.name);
  return {
    lanes: 1,
    resident: names,
    setup: names.map((block) => ({ op: "load", block, lane: 0 })),
    pass: names.map((block) => ({ op: "run", block, lane: 0 })),
    teardown: names.map((block) => ({ op: "unload", block, lane: 0 })),
    peakBytes,
  };
}

/** The `resident` scheduler plugin. */
export const resident = definePlugin({
  name: "resident",
  kind: "scheduler",
  options: z.object({}).strict(),
  create: () => ({ plan: planResident }),
});
