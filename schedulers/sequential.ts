/**
 * The `sequential` memory scheduler: every pass loads, runs and unloads each block in turn, so only one
 * block is in memory at a time (least memory; pays every load on every pass).
 *
 * @module
 */
import { z } from "zod";
import { definePlugin } from "../runtime/core/registry.ts";
import type { Budget, PlanOp, PlanShape, StageInfo } from "../runtime/core/types.ts";
import { blockNeed, checkEachBlock, laneCost } from "./budget.ts";

/**
 * Plan: no setup; each pass is load → run → unload per block on lane 0; no teardown.
 *
 * @example
 * ```ts
 * import { planSequential } from "./sequential.ts";
 * const plan = planSequential({ stage: "vae", passes: 1, blocks: [{ name: "a", bytes: 10, workBytes: 2 }] }, { bytes: 12 });
 * console.assert(plan.pass.length === 3);
 * ```
 */
export function planSequential(stage: StageInfo, budget: Budget): PlanShape {
  checkEachBlock("sequential", stage, budget);
  const pass: PlanOp[] = stage.blocks.flatMap((b): PlanOp[] => [
    { op: "load", block: b.name, lane: 0 },
    { op: "run", block: b.name, lane: 0 },
    { op: "unload", block: b.name, lane: 0 },
  ]);
  return {
    lanes: 1,
    resident: [],
    setup: [],
    pass,
    teardown: [],
    peakBytes: Math.max(0, ...stage.blocks.map((b) => blockNeed(b, stage))) + laneCost(budget, 1),
  };
}

/** The `sequential` scheduler plugin. */
export const sequential = definePlugin({
  name: "sequential",
  kind: "scheduler",
  options: z.object({}).strict(),
  create: () => ({ plan: planSequential }),
});
