import assert from "node:assert/strict";
import { ROWS, speedSampler, speedStepCache } from "./_rows.ts";

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

Deno.test("speedStepCache() replays the steps the cache reused on the trained model as a fixed list", () => {
  assert.deepEqual(speedStepCache(row("cache"), [2, 3, 5]), {
    stepCache: { name: "fixed", steps: [2, 3, 5] },
    cacheSource: "trained-model",
  });
  assert.deepEqual(speedStepCache(row("all-cache"), undefined), {
    stepCache: row("all-cache").step_cache,
    cacheSource: "speed-bundle",
  });
  assert.deepEqual(speedStepCache(row("baseline"), [1]), { stepCache: null, cacheSource: null });
});
