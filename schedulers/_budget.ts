/**
 * Shared budget arithmetic for the memory schedulers.
 *
 * @module
 */
import { BudgetError, formatBytes } from "../runtime/errors.ts";
import type { BlockInfo, Budget, StageInfo } from "../runtime/types.ts";

/** Bytes one block needs while it runs: its weights plus its working memory. */
export function blockNeed(block: BlockInfo): number {
  return block.bytes + block.workBytes;
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

/** Throw a BudgetError if any single block cannot fit the budget on its own (no plan can help then). */
export function checkEachBlock(scheduler: string, stage: StageInfo, budget: Budget): void {
  for (const b of stage.blocks) checkBudget(scheduler, stage, blockNeed(b), budget, `block '${b.name}'`);
}
