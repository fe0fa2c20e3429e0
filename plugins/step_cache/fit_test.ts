import assert from "node:assert/strict";
import { meanFitError, polyfit } from "./fit.ts";

Deno.test("polyfit recovers a quartic exactly (highest degree first) and fits noise by least squares", () => {
  const c = [3, -2, 0.5, 1.5, -0.25];
  const x = Array.from({ length: 40 }, (_, i) => 0.02 + i * 0.013);
  const y = x.map((v) => c.reduce((acc, k) => acc * v + k, 0));
  const fit = polyfit(x, y, 4);
  fit.forEach((v, i) => assert.ok(Math.abs(v - c[i]) < 1e-6, `${i}: ${v} vs ${c[i]}`));
  assert.ok(meanFitError(fit, x, y) < 1e-9);
  const line = polyfit([0, 1, 2, 3], [0.1, 0.9, 2.1, 2.9], 1);
  assert.ok(Math.abs(line[0] - 0.96) < 1e-9 && Math.abs(line[1] - 0.06) < 1e-9, `${line}`);
  assert.throws(() => polyfit([1, 2], [1, 2], 4), /Cannot fit degree 4/);
});
