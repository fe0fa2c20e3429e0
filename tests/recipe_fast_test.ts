/** recipes/fast.yaml: the default run with every technique, as the evaluation's `all-cache` variant measures it. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { variantOverrides } from "../eval/variants.ts";
import { ROOT } from "./_bundles.ts";

Deno.test("recipes/fast.yaml is recipes/default.yaml with the evaluation's all-cache variant", async () => {
  const fast = await loadRecipe(join(ROOT, "recipes", "fast.yaml"));
  const base = await loadRecipe(join(ROOT, "recipes", "default.yaml"));
  const variant = await loadRecipe(join(ROOT, "recipes", "default.yaml"), {
    overrides: variantOverrides("all-cache", base.frames),
  });
  for (
    const key of [
      "sampler",
      "tokenOps",
      "stepCache",
      "scheduler",
      "budget",
      "stageBudgets",
      "frames",
    ] as const
  ) {
    assert.deepEqual(fast[key], variant[key], key);
  }
  assert.deepEqual(fast.tokenOps, [{ name: "tdtm", mergeSteps: 15, chunk: 5, positions: "time" }]);
});
