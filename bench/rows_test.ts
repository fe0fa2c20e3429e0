import assert from "node:assert/strict";
import { ROWS, speedSampler } from "./_rows.ts";

const row = (name: string) => ROWS.find((r) => r.name === name)!;

Deno.test("speedSampler() replays the trained model's dynamic-LPL leap, and says where the leap came from", () => {
  assert.deepEqual(speedSampler(row("lpl-dynamic"), 19), {
    sampler: { name: "lpl", leapAt: 19 },
    leapSource: "trained-model",
  });
  assert.deepEqual(speedSampler(row("lpl-dynamic-reference"), null), {
    sampler: { name: "euler" },
    leapSource: "trained-model",
  });
  assert.deepEqual(speedSampler(row("lpl-dynamic"), undefined), {
    sampler: row("lpl-dynamic").sampler,
    leapSource: "speed-bundle",
  });
  assert.deepEqual(speedSampler(row("lpl-15"), 19), { sampler: row("lpl-15").sampler, leapSource: null });
});
