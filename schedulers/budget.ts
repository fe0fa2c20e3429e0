/**
 * Shared budget arithmetic for the memory schedulers.
 *
 * @module
 */
import { BudgetError, formatBytes } from "../runtime/core/errors.ts";
import type { BlockInfo, Budget, StageInfo } from "../runtime/core/types.ts";

/**
 * The working memory a lane keeps once it has run the stage's blocks: the largest block call's (a lane's
 * heap keeps its runs' memory for the next run; see _plan_peak.ts).
 */
export function laneWorkBytes(stage: StageInfo): number {
  return Math.max(0, ...stage.blocks.map((b) => b.workBytes));
}

/** Bytes one block needs while it runs on a lane: its weights plus the lane's working memory. */
export function blockNeed(block: BlockInfo, stage: StageInfo): number {
  return block.bytes + laneWorkBytes(stage);
}

/**
 * Bytes the lanes a plan needs add when they start: `laneBytes` for each lane beyond those running.
 *
 * @example
 * ```ts
 * laneCost({ bytes: 100, laneBytes: 10, lanesRunning: 1 }, 3); // 20
 * ```
 */
export function laneCost(budget: Budget, lanes: number): number {
  return Math.max(0, lanes - (budget.lanesRunning ?? 0)) * (budget.laneBytes ?? 0);
}

/** Throw a BudgetError unless `needed` bytes fit the budget (`null` = unlimited). */
export function checkBudget(
  scheduler: string,
  stage: StageInfo,
  needed: number,
  budget: Budget,
  what: string,
): void {
  if (budget.bytes === null || needed <= budget.bytes) return;
  throw new BudgetError(
    `Cannot plan stage '${stage.stage}' with scheduler '${scheduler}': ${what} needs ${
      formatBytes(needed)
    }, ` +
      `the budget is ${formatBytes(budget.bytes)}`,
    needed,
    budget.bytes,
  );
}

/**
 * Throw a BudgetError if any single block cannot fit the budget on its own, on one lane (no plan can help
 * then).
 */
export function checkEachBlock(scheduler: string, stage: StageInfo, budget: Budget): void {
  for (const b of stage.blocks) {
    checkBudget(scheduler, stage, blockNeed(b, stage) + laneCost(budget, 1), budget, `block '${b.name}'`);
  }
}
