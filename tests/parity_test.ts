import assert from "node:assert/strict";
import { goldenDir } from "./_bundles.ts";
import { type Fixture, fixtureBundle, openFixture } from "./_parity.ts";
import { fixtureDirs, formatOutcome, parityChecks, passed, runFixture } from "./parity.ts";

const fixtures: Fixture[] = await Promise.all(fixtureDirs([goldenDir()]).map(openFixture));

Deno.test("parity: every public golden fixture with a registered check passes through the Deno runtime", async (t) => {
  const runnable = fixtures.filter((fx) => parityChecks().some((c) => c.matches(fx)));
  assert.ok(runnable.length >= 6, `only ${runnable.length} fixtures have checks`);
  // build the fixture bundles two at a time (the exporter is the slow part; cached across runs)
  for (let i = 0; i < runnable.length; i += 2) await Promise.all(runnable.slice(i, i + 2).map(fixtureBundle));
  for (const fx of fixtures) {
    await t.step({
      name: fx.name,
      ignore: !runnable.includes(fx),
      fn: async () => {
        const outcome = await runFixture(fx);
        assert.ok(passed(outcome), formatOutcome(outcome).join("\n"));
      },
    });
  }
});

Deno.test("parity: the sequential scheduler reproduces stdit3_forward bit for bit like resident", async () => {
  const fx = fixtures.find((f) => f.name === "stdit3_forward");
  assert.ok(fx, "the public set has stdit3_forward");
  const [a, b] = [
    await runFixture(fx, { scheduler: "resident" }),
    await runFixture(fx, { scheduler: "sequential" }),
  ];
  assert.ok(passed(a) && passed(b), [...formatOutcome(a), ...formatOutcome(b)].join("\n"));
  assert.deepEqual(a.results.map((r) => r.relErr), b.results.map((r) => r.relErr));
});
