import assert from "node:assert/strict";
import { BudgetError } from "../runtime/core/errors.ts";
import type { StageInfo } from "../runtime/core/types.ts";
import { planSequential } from "./sequential.ts";

const stage: StageInfo = {
  stage: "text",
  passes: 1,
  blocks: [
    { name: "embed", bytes: 100, workBytes: 40 },
    { name: "layer_00", bytes: 300, workBytes: 60 },
    { name: "final", bytes: 50, workBytes: 10 },
  ],
};

Deno.test("planSequential() loads, runs and unloads each block every pass", () => {
  const plan = planSequential(stage, { bytes: null });
  assert.deepEqual(plan.setup, []);
  assert.deepEqual(plan.teardown, []);
  assert.deepEqual(plan.resident, []);
  assert.deepEqual(
    plan.pass.map((o) => `${o.op}:${o.block}:${o.lane}`),
    [
      "load:embed:0",
      "run:embed:0",
      "unload:embed:0",
      "load:layer_00:0",
      "run:layer_00:0",
      "unload:layer_00:0",
      "load:final:0",
      "run:final:0",
      "unload:final:0",
    ],
  );
  assert.equal(plan.peakBytes, 360);
});

Deno.test("planSequential() needs only the largest block and throws BudgetError below it", () => {
  assert.equal(planSequential(stage, { bytes: 360 }).peakBytes, 360);
  assert.throws(
    () => planSequential(stage, { bytes: 359 }),
    (e) =>
      e instanceof BudgetError &&
      /Cannot plan stage 'text' with scheduler 'sequential': block 'layer_00' needs '360 B', the budget is '359 B'/
        .test(e.message),
  );
});
