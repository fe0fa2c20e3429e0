import assert from "node:assert/strict";
import { BudgetError } from "../runtime/core/errors.ts";
import type { StageInfo } from "../runtime/core/types.ts";
import { planResident } from "./resident.ts";

const stage: StageInfo = {
  stage: "denoiser",
  passes: 30,
  blocks: [
    { name: "embed", bytes: 100, workBytes: 40 },
    { name: "spatial_00", bytes: 300, workBytes: 60 },
    { name: "final", bytes: 50, workBytes: 10 },
  ],
};

Deno.test("planResident() loads all in setup, runs all per pass, unloads in teardown", () => {
  const plan = planResident(stage, { bytes: null });
  assert.deepEqual(plan.setup.map((o) => `${o.op}:${o.block}:${o.lane}`), [
    "load:embed:0",
    "load:spatial_00:0",
    "load:final:0",
  ]);
  assert.deepEqual(plan.pass.map((o) => `${o.op}:${o.block}`), ["run:embed", "run:spatial_00", "run:final"]);
  assert.deepEqual(plan.teardown.map((o) => `${o.op}:${o.block}`), [
    "unload:embed",
    "unload:spatial_00",
    "unload:final",
  ]);
  assert.deepEqual(plan.resident, ["embed", "spatial_00", "final"]);
  assert.equal(plan.lanes, 1);
  assert.equal(plan.peakBytes, 450 + 60);
});

Deno.test("planResident() fits a budget exactly at its peak and throws BudgetError below it", () => {
  assert.equal(planResident(stage, { bytes: 510 }).peakBytes, 510);
  assert.throws(
    () => planResident(stage, { bytes: 509 }),
    (e) =>
      e instanceof BudgetError && e.neededBytes === 510 && e.budgetBytes === 509 &&
      e.message ===
        "Cannot plan stage 'denoiser' with scheduler 'resident': keeping all 3 blocks loaded needs '510 B', the budget is '509 B'",
  );
  assert.throws(() => planResident(stage, { bytes: 200 }), /block 'spatial_00' needs '360 B'/);
});
