import assert from "node:assert/strict";
import { probeCapacity } from "./capacity.ts";

Deno.test("probeCapacity() measures between about one and two cores of throughput here", async () => {
  // the median of three probes: one probe can be skewed by the suite's other tests sharing the machine
  const c = await probeCapacity({ iterations: 300_000, repeats: 3 });
  assert.ok(c.aloneMs > 0 && c.togetherMs > 0);
  // One worker alone can never be slower than the slower of two sharing the machine by more than noise.
  assert.ok(c.cores > 0.5 && c.cores < 2.6, `cores ${c.cores}`);
});
