import assert from "node:assert/strict";
import { tensor } from "../../runtime/core/tensor.ts";
import type { PluginDefinition, StepCacheQuery, TensorMap } from "../../runtime/core/types.ts";
import { easycache } from "./easycache.ts";
import { fixedCache } from "./fixed.ts";
import { modulatedInput, polyval, relL1 } from "./signals.ts";
import { teacache } from "./teacache.ts";
import { instantiate } from "../../runtime/core/registry.ts";

/** Signals of a [2, T=2, 1, 1, C=2] `h` (both CFG halves equal) and a per-frame `t_mlp` [2, 2, 12]. */
function signals(h: number[], shift = 0, scale = 0): TensorMap {
  const t = Array.from({ length: 12 }, (_, j) => (j < 2 ? shift : j < 4 ? scale : 9));
  return {
    h: tensor("float32", [2, 2, 1, 1, 2], Float32Array.from([...h, ...h])),
    t_mlp: tensor("float32", [2, 2, 12], Float32Array.from([...t, ...t, ...t, ...t])),
  };
}

const query = (step: number, s: TensorMap, reusable = true): StepCacheQuery => ({
  step,
  total: 10,
  t: 1000 - 100 * step,
  call: step,
  signals: s,
  reusable,
});

Deno.test("polyval evaluates highest degree first; relL1 is mean |a−b| / mean |b|", () => {
  assert.equal(polyval([2, 0, 1], 3), 19);
  assert.equal(relL1([2, 2], [1, 1]), 1);
  assert.equal(relL1([0, 0], [0, 0]), 0);
});

Deno.test("modulatedInput layer-norms each token of the first sample and applies shift and scale", () => {
  const m = modulatedInput(signals([1, 3, 5, 5], 0.5, 1));
  // token [1, 3] → normed ≈ [−1, 1] → ·(1 + 1) + 0.5; token [5, 5] → [0, 0] + 0.5
  assert.ok(Math.abs(m[0] + 1.5) < 1e-5 && Math.abs(m[1] - 2.5) < 1e-5 && m[2] === 0.5 && m[3] === 0.5);
  assert.throws(() => modulatedInput({ h: signals([1, 2, 3, 4]).h }), /t_mlp/);
});

Deno.test("teacache reuses while the accumulated rescaled change stays under the threshold, then computes", () => {
  const cache = instantiate(teacache, { threshold: 0.25, coefficients: [1, 0] });
  // h fixed (each token layer-norms to ±1); the timestep's shift moves the modulated input
  const at = (shift: number) => signals([1, 3, 5, 6], shift);
  const d0 = cache.decide(query(0, at(0)));
  assert.equal(d0.reuse, false);
  cache.update(query(0, at(0)), tensor("float32", [1], new Float32Array(1)));
  // relative changes 0.1, 0.1 (sum 0.2 < 0.25), 0.4 (sum 0.6: compute, restart), 0.05
  const got = [0.1, 0.2, 0.6, 0.65].map((shift, i) => {
    const d = cache.decide(query(i + 1, at(shift)));
    if (!d.reuse) cache.update(query(i + 1, at(shift)), tensor("float32", [1], new Float32Array(1)));
    assert.ok(d.reason.length > 0 && typeof d.data?.accumulated === "number");
    return d.reuse;
  });
  assert.deepEqual(got, [true, true, false, true]);
  assert.equal(cache.decide(query(9, signals([9, 9, 9, 1]))).reuse, false, "the last step computes");
});

Deno.test("teacache with threshold 0 and easycache with threshold 0 never reuse", () => {
  for (const def of [teacache, easycache]) {
    const cache = instantiate(def as PluginDefinition<"step-cache">, { threshold: 0 });
    for (let step = 0; step < 9; step++) {
      const s = signals([1, 2, 3, 4 + step * 1e-6]);
      const d = cache.decide(query(step, s));
      assert.equal(d.reuse, false, `${def.name} step ${step}`);
      cache.update(query(step, s), tensor("float32", [2, 2, 1, 1, 2], new Float32Array(8).fill(0.1)));
    }
  }
});

Deno.test("easycache measures the transformation rate between computed calls and reuses below the threshold", () => {
  const cache = instantiate(easycache, { threshold: 0.5, warmup: 2 });
  const residual = tensor("float32", [2, 2, 1, 1, 2], new Float32Array(8).fill(1));
  const decide = (step: number, h: number[]) => {
    const d = cache.decide(query(step, signals(h)));
    if (!d.reuse) cache.update(query(step, signals(h)), residual);
    return d;
  };
  assert.equal(decide(0, [1, 1, 1, 1]).reuse, false);
  assert.equal(decide(1, [2, 2, 2, 2]).reuse, false);
  const d2 = decide(2, [2.1, 2.1, 2.1, 2.1]); // rate 1: 0.1 / mean |output 3| ≈ 0.033
  assert.equal(d2.reuse, true, d2.reason);
  assert.equal(d2.data?.rate, 1);
  assert.equal(decide(3, [4, 4, 4, 4]).reuse, false, "a large input change computes");
  assert.equal(decide(4, [4, 4, 4, 4]).reuse, true);
  assert.equal(cache.decide(query(5, signals([4, 4, 4, 4]), false)).reuse, false, "not reusable");
});

Deno.test("fixed reuses exactly the listed steps, and only when a residual is cached", () => {
  const cache = instantiate(fixedCache, { steps: [2, 4] });
  const s = signals([1, 2, 3, 4]);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => cache.decide(query(i, s)).reuse), [
    false,
    false,
    true,
    false,
    true,
  ]);
  assert.equal(cache.decide(query(2, s, false)).reuse, false);
  assert.throws(() => fixedCache.options.parse({ steps: [-1] }));
});
