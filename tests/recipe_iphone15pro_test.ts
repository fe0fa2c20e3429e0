/** The paper's iPhone 15 Pro recipe: its settings, its plugins, and the message when its bundle is missing. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BundleError } from "../runtime/core/errors.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { builtins, resolvePlugin } from "../builtins.ts";
import { tdtmOperators } from "../plugins/tdtm.ts";
import { ROOT } from "./_bundles.ts";

const FILE = join(ROOT, "recipes", "iphone15pro.yaml");

Deno.test("recipes/iphone15pro.yaml states the paper's configuration", async () => {
  const r = await loadRecipe(FILE);
  assert.deepEqual([r.height, r.width, r.frames, r.steps, r.cfg], [256, 256, 68, 30, 7]);
  assert.deepEqual(r.schedule, { discrete: true, shift: true });
  assert.deepEqual(r.budget, { bytes: 3.3e9 });
  assert.equal(r.bundle, join(ROOT, "models", "opensora-v1.2-int8"));
  assert.match(r.bundleBuild!, /--int8-text/);
  // Its plugins resolve with their options: LPL at 15, TDTM for 15 steps, CI-DL.
  const sampler = await resolvePlugin("sampler", r.sampler, r.baseDir);
  assert.equal(sampler.name, "lpl");
  const [op] = await Promise.all(r.tokenOps.map((s) => resolvePlugin("token-op", s, r.baseDir)));
  assert.deepEqual(op.operators({ step: 14, total: 30, t: 700 }, 20), tdtmOperators(20, "alone"));
  assert.equal(op.operators({ step: 15, total: 30, t: 690 }, 20), null);
  const scheduler = await resolvePlugin("scheduler", r.scheduler, r.baseDir);
  assert.equal(scheduler.name, "ci-dl");
});

Deno.test("recipes/iphone15pro.yaml without its bundle stops with the command that builds it", async () => {
  const r = await loadRecipe(FILE, { overrides: { bundle: join(ROOT, "tmp-missing-bundle-for-test") } });
  assert.ok(!existsSync(r.bundle));
  await assert.rejects(
    () => generate(r, { registry: builtins }),
    (e) =>
      e instanceof BundleError &&
      e.message.includes("does not exist; build it with `scripts/py -m export opensora") &&
      e.message.includes("--int8-text"),
  );
});
