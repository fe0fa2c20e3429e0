import assert from "node:assert/strict";
import type { RunEvent } from "../runtime/core/types.ts";
import { loadComputeOverlap, perBlockMedians, setupSpan, timelineOf, type TimelineOp } from "./timeline.ts";

const op = (
  block: string,
  index: number,
  o: TimelineOp["op"],
  lane: number,
  start: number,
  end: number,
  pass = 0,
) => ({
  block,
  index,
  op: o,
  lane,
  pass,
  start,
  end,
});

Deno.test("timelineOf() keeps the block events only", () => {
  const events: RunEvent[] = [
    { type: "step", step: 0, total: 1, t: 1000, calls: 1, etaMs: null },
    {
      type: "block",
      stage: "denoiser",
      block: "a",
      index: 0,
      count: 1,
      op: "run",
      lane: 0,
      pass: 0,
      start: 1,
      end: 2,
    },
  ];
  assert.deepEqual(timelineOf(events), [op("a", 0, "run", 0, 1, 2)]);
});

Deno.test("loadComputeOverlap() is the share of streamed load time that ran beside a computation", () => {
  const ops = [
    op("a", 0, "load", 1, 0, 10), // setup-like resident load: ignored
    op("b", 1, "load", 0, 10, 20), // fully hidden behind a's run [10, 30]
    op("a", 0, "run", 1, 10, 30),
    op("c", 2, "load", 1, 30, 50), // half hidden behind b's run [30, 40]
    op("b", 1, "run", 0, 30, 40),
    op("c", 2, "run", 1, 50, 60),
  ];
  assert.equal(loadComputeOverlap(ops, ["a"]), (10 + 10) / (10 + 20));
  assert.equal(loadComputeOverlap(ops.filter((o) => o.op === "run" || o.block === "a"), ["a"]), null);
});

Deno.test("setupSpan() spans the resident loads before the first run", () => {
  const ops = [
    op("a", 0, "load", 0, 2, 5),
    op("b", 1, "load", 0, 5, 9),
    op("a", 0, "run", 0, 9, 12),
    op("c", 2, "load", 1, 9, 11),
  ];
  assert.deepEqual(setupSpan(ops, ["a", "b"]), { start: 2, end: 9 });
  assert.equal(setupSpan(ops, []), null);
});

Deno.test("perBlockMedians() gives each block's median load and run time in block order", () => {
  const ops = [
    op("b", 1, "run", 0, 0, 4),
    op("a", 0, "load", 0, 0, 1),
    op("a", 0, "run", 0, 0, 2, 0),
    op("a", 0, "run", 0, 0, 6, 1),
    op("a", 0, "run", 0, 0, 3, 2),
  ];
  assert.deepEqual(perBlockMedians(ops), [
    { block: "a", index: 0, load_ms: 1, run_ms: 3 },
    { block: "b", index: 1, load_ms: null, run_ms: 4 },
  ]);
});
