import assert from "node:assert/strict";
import type { BlockInfo, PlanOp } from "../runtime/core/types.ts";
import { planPeakBytes } from "./_plan_peak.ts";

const blocks: BlockInfo[] = [
  { name: "a", bytes: 10, workBytes: 1 },
  { name: "b", bytes: 20, workBytes: 2 },
  { name: "c", bytes: 40, workBytes: 4 },
];
const op = (kind: PlanOp["op"], block: string, lane = 0): PlanOp => ({ op: kind, block, lane });

Deno.test("planPeakBytes() of a one-lane load-run-unload pass is the largest block plus its work", () => {
  const pass = blocks.flatMap((b) => [op("load", b.name), op("run", b.name), op("unload", b.name)]);
  assert.equal(planPeakBytes({ setup: [], pass, teardown: [] }, blocks), 44);
});

Deno.test("planPeakBytes() of resident blocks is all weights plus the largest work", () => {
  const plan = {
    setup: blocks.map((b) => op("load", b.name)),
    pass: blocks.map((b) => op("run", b.name)),
    teardown: blocks.map((b) => op("unload", b.name)),
  };
  assert.equal(planPeakBytes(plan, blocks), 74);
});

Deno.test("planPeakBytes() counts a load on another lane that may overlap a run", () => {
  // Lane 1 loads c while a runs on lane 0; b loads on lane 0 only after a's unload.
  const pass = [
    op("load", "a"),
    op("load", "c", 1),
    op("run", "a"),
    op("unload", "a"),
    op("load", "b"),
    op("run", "b"),
    op("unload", "b"),
    op("run", "c", 1),
    op("unload", "c", 1),
  ];
  // While c runs, b's unload may still be going on: b + c = 60, plus what each lane keeps of its largest
  // run (lane 0: b's 2, lane 1: c's 4) = 66. a and b never coexist (lane 0 unloads a before loading b).
  assert.equal(planPeakBytes({ setup: [], pass, teardown: [] }, blocks), 66);
});

Deno.test("planPeakBytes() does not add blocks whose lifetimes are ordered by their lane", () => {
  // Two lanes alternate: a unloads before c loads on lane 0, so the two big blocks never coexist.
  const big: BlockInfo[] = [
    { name: "a", bytes: 40, workBytes: 1 },
    { name: "b", bytes: 1, workBytes: 2 },
    { name: "c", bytes: 40, workBytes: 4 },
  ];
  const pass = [
    op("load", "a"),
    op("load", "b", 1),
    op("run", "a"),
    op("unload", "a"),
    op("load", "c"),
    op("run", "b", 1),
    op("unload", "b", 1),
    op("run", "c"),
    op("unload", "c"),
  ];
  // b + c + the lanes' kept work (lane 0: c's 4, lane 1: b's 2) = 47 (a pairwise sum would say
  // a + b + c + work = 87).
  assert.equal(planPeakBytes({ setup: [], pass, teardown: [] }, big), 47);
});

Deno.test("planPeakBytes() keeps blocks a pass leaves loaded for the next pass", () => {
  // The pass loads c for the next pass at its end and never unloads it: the second pass must count it.
  const plan = {
    setup: [op("load", "a")],
    pass: [op("run", "a"), op("load", "b"), op("run", "b"), op("unload", "b")],
    teardown: [op("unload", "a")],
  };
  assert.equal(planPeakBytes(plan, blocks), 32);
  const leaky = { ...plan, pass: [...plan.pass.slice(0, 1), op("load", "c", 1)] };
  assert.equal(planPeakBytes(leaky, blocks), 50 + 1 + 40); // a + c from pass 1 + c loaded again (and a's work)
});
