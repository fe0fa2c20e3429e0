import assert from "node:assert/strict";
import { fromArray } from "../runtime/core/tensor.ts";
import { cosineFirstSliceRows, cosineFull } from "./_cosine.ts";

Deno.test("cosineFull() is the cosine of the flattened tensors", () => {
  const a = fromArray([2, 2], [1, 0, 0, 1]);
  const b = fromArray([2, 2], [1, 1, 0, 0]);
  assert.ok(Math.abs(cosineFull(a, b) - 0.5) < 1e-12);
  assert.ok(Math.abs(cosineFull(a, a) - 1) < 1e-12);
  assert.equal(cosineFull(a, fromArray([2, 2], [0, 0, 0, 0])), 0); // eps-clamped norm, as torch
  assert.throws(() => cosineFull(a, fromArray([4], [1, 2, 3, 4])), /Cannot compare velocities/);
});

Deno.test("cosineFirstSliceRows() averages row cosines of the [H, W] slice at batch 0, channel 0, frame 0", () => {
  // dims [B=2, C=1, T=1, H=2, W=2]: only the first 4 elements (batch 0) count.
  const a = fromArray([2, 1, 1, 2, 2], [1, 0, 1, 1, 9, 9, 9, 9]);
  const b = fromArray([2, 1, 1, 2, 2], [0, 1, 1, 1, -9, 9, 9, -9]);
  // row 0: cos((1,0),(0,1)) = 0; row 1: cos((1,1),(1,1)) = 1 → mean 0.5
  assert.ok(Math.abs(cosineFirstSliceRows(a, b) - 0.5) < 1e-12);
  assert.ok(Math.abs(cosineFull(a, b) - cosineFirstSliceRows(a, b)) > 0.1);
});
