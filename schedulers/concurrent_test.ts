import assert from "node:assert/strict";
import { BudgetError } from "../runtime/core/errors.ts";
import { concurrent } from "./concurrent.ts";
import { SMALL_STAGE } from "./_test_stage.ts";
import { instantiate } from "../runtime/core/registry.ts";

const names = SMALL_STAGE.blocks.map((b) => b.name);

Deno.test("concurrent plan() alternates two lanes, loading block i+1 while block i runs", () => {
  const plan = instantiate(concurrent, { prefetch: 1 }).plan(SMALL_STAGE, { bytes: null });
  assert.equal(plan.lanes, 2);
  assert.deepEqual(plan.resident, []);
  assert.deepEqual(plan.setup, []);
  assert.deepEqual(plan.teardown, []);
  const lane = (i: number) => (i + 1) % 2;
  const expected = [
    { op: "load", block: names[0], lane: lane(0) },
    { op: "load", block: names[1], lane: lane(1) },
    ...names.flatMap((block, i) => [
      { op: "run", block, lane: lane(i) },
      { op: "unload", block, lane: lane(i) },
      ...(i + 2 < names.length ? [{ op: "load", block: names[i + 2], lane: lane(i) }] : []),
    ]),
  ];
  assert.deepEqual(plan.pass, expected);
  // Running block + the one loading + the previous one still unloading are never all three together:
  // max over i of block_i + max(block_{i−1}, block_{i+1}) + each lane's kept work = 10 + 10 + 2 × 3.
  assert.equal(plan.peakBytes, 26);
});

Deno.test("concurrent plan() with prefetch 2 keeps two blocks loading ahead on three lanes", () => {
  const plan = instantiate(concurrent, { prefetch: 2 }).plan(SMALL_STAGE, { bytes: 40 });
  assert.equal(plan.lanes, 3);
  assert.deepEqual(
    plan.pass.slice(0, 3).map((op) => [op.op, op.block]),
    names.slice(0, 3).map((b) => ["load", b]),
  );
  assert.equal(plan.peakBytes, 39); // 3 blocks of 10 + 3 lanes' work
});

Deno.test("concurrent plan() refuses a budget below the blocks in flight, before any work", () => {
  assert.throws(
    () => instantiate(concurrent, { prefetch: 1 }).plan(SMALL_STAGE, { bytes: 25 }),
    (e) =>
      e instanceof BudgetError && e.neededBytes === 26 && e.budgetBytes === 25 &&
      e.message === "Cannot plan stage 'denoiser' with scheduler 'concurrent': streaming with '1' block(s) " +
          "prefetched needs '26 B', the budget is '25 B'",
  );
});

Deno.test("concurrent options default to one block of prefetch", () => {
  assert.deepEqual(concurrent.options.parse({}), { prefetch: 1 });
  assert.throws(() => concurrent.options.parse({ prefetch: 0 }));
});
