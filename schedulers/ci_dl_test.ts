import assert from "node:assert/strict";
import { BudgetError } from "../runtime/core/errors.ts";
import { ciDl } from "./ci_dl.ts";
import { SMALL_STAGE } from "./_test_stage.ts";
import { instantiate } from "../runtime/core/registry.ts";

const names = SMALL_STAGE.blocks.map((b) => b.name);
const plan = (bytes: number | null, prefetch = 1) =>
  instantiate(ciDl, { prefetch }).plan(SMALL_STAGE, { bytes });

Deno.test("ci-dl plan() keeps the most leading blocks resident that the budget allows (hand-computed table)", () => {
  // Bound with k resident blocks (R bytes), one block prefetched, two lanes that each keep one block
  // call's working memory: R + running + max(prev, next) + 2 × 3. k=0: 26, k=1: 30, k=2: 40, k=3: 50,
  // k=4, 5: 52; k=6 (all resident, one lane): 46 + 3 = 49, so k=3..5 never pay.
  const table: [number, number, number, number][] = [ // budget → resident k, lanes, peak
    [1000, 6, 1, 49],
    [49, 6, 1, 49],
    [48, 2, 2, 40],
    [40, 2, 2, 40],
    [30, 1, 2, 30],
    [26, 0, 2, 26],
  ];
  for (const [budget, k, lanes, peak] of table) {
    const p = plan(budget);
    assert.deepEqual(p.resident, names.slice(0, k), `budget ${budget}`);
    assert.equal(p.lanes, lanes, `budget ${budget}`);
    assert.equal(p.peakBytes, peak, `budget ${budget}`);
    assert.equal(p.budgetBytes, budget);
    assert.ok(p.peakBytes <= budget);
  }
});

Deno.test("ci-dl plan() lays out resident and streamed blocks as data", () => {
  const p = plan(40);
  assert.deepEqual(p.setup, [{ op: "load", block: "embed", lane: 0 }, {
    op: "load",
    block: "spatial_00",
    lane: 0,
  }]);
  assert.deepEqual(p.teardown, p.setup.map((op) => ({ ...op, op: "unload" })));
  assert.deepEqual(p.pass.map((op) => `${op.op} ${op.block} ${op.lane}`), [
    "load temporal_00 1", // overlaps the resident runs on lane 0
    "run embed 0",
    "run spatial_00 0",
    "load spatial_01 0",
    "run temporal_00 1",
    "unload temporal_00 1",
    "load temporal_01 1",
    "run spatial_01 0",
    "unload spatial_01 0",
    "load final 0",
    "run temporal_01 1",
    "unload temporal_01 1",
    "run final 0",
    "unload final 0",
  ]);
});

Deno.test("ci-dl plan() gives up prefetch before failing when only one block at a time fits", () => {
  const p = plan(20); // prefetch needs 26 even with nothing resident; sequential with embed resident needs 17
  assert.equal(p.lanes, 1);
  assert.deepEqual(p.resident, ["embed"]);
  assert.equal(p.peakBytes, 17);
  assert.deepEqual(p.pass.slice(0, 4).map((op) => `${op.op} ${op.block}`), [
    "run embed",
    "load spatial_00",
    "run spatial_00",
    "unload spatial_00",
  ]);
  assert.equal(plan(20, 0).peakBytes, 17);
});

Deno.test("ci-dl plan() refuses a budget below one block's weights + working memory, before any work", () => {
  assert.throws(
    () => plan(12),
    (e) =>
      e instanceof BudgetError && e.neededBytes === 13 && e.budgetBytes === 12 &&
      e.message === "Cannot plan stage 'denoiser' with scheduler 'ci-dl': block 'spatial_00' needs '13 B', " +
          "the budget is '12 B'",
  );
});

Deno.test("ci-dl plan() without a budget plans against the available memory it is handed", () => {
  const p = instantiate(ciDl, {}).plan(SMALL_STAGE, { bytes: null, availableBytes: 1000 });
  assert.equal(p.budgetBytes, 1000);
  assert.throws(() => plan(null), /no budget and no available memory/);
  assert.deepEqual(p.resident, names); // 49 bytes fit any machine
});

Deno.test("ci-dl pays for the lanes it starts: a lane priced out of the budget leaves one lane", () => {
  const scheduler = ciDl.create(ciDl.options.parse({ prefetch: 1 }));
  const total = SMALL_STAGE.blocks.reduce((s, b) => s + b.bytes + b.workBytes, 0);
  let bytes = total;
  let free = scheduler.plan(SMALL_STAGE, { bytes });
  while (free.lanes === 1 && bytes > 1) {
    free = scheduler.plan(SMALL_STAGE, { bytes: bytes = Math.floor(bytes * 0.9) });
  }
  assert.equal(free.lanes, 2, "some budget streams with prefetch on two lanes");
  const priced = scheduler.plan(SMALL_STAGE, { bytes, laneBytes: total, lanesRunning: 1 });
  assert.equal(priced.lanes, 1);
  assert.ok(priced.peakBytes <= bytes);
  // lanes already running cost nothing more
  const running = scheduler.plan(SMALL_STAGE, { bytes, laneBytes: total, lanesRunning: 2 });
  assert.deepEqual(running.pass, free.pass);
});

Deno.test("ci-dl plan() with residentLast keeps the last block loaded too when it fits, and runs it last", () => {
  const p = ciDl.create(ciDl.options.parse({ residentLast: true })).plan(SMALL_STAGE, { bytes: 42 });
  assert.deepEqual(p.resident, ["embed", "spatial_00", "final"]); // 40 for the first two + 2
  assert.equal(p.peakBytes, 42);
  assert.ok(!p.pass.some((op) => op.block === "final" && op.op !== "run"));
  assert.deepEqual(p.pass.at(-1), { op: "run", block: "final", lane: 0 });
  assert.deepEqual(p.pass.filter((op) => op.op === "run").map((op) => op.block), names);
  // below what the last block adds, the plan is the one without it
  const tight = ciDl.create(ciDl.options.parse({ residentLast: true })).plan(SMALL_STAGE, { bytes: 41 });
  assert.deepEqual(tight.resident, ["embed", "spatial_00"]);
});
