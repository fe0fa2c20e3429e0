import assert from "node:assert/strict";
import { RecipeError } from "../core/errors.ts";
import { parseRecipe } from "./recipe.ts";
import { runBudgets } from "./recipe_plugins.ts";
import { sparseEmbeddingBytes } from "../pipeline/text_stage.ts";

const BYTES = { text: 100e6, denoiser: 800e6, vae: 100e6 };

Deno.test("a run budget's fraction is of all stages' bytes", () => {
  const r = parseRecipe("bundle: b\nprompt: p\nscheduler: { name: ci-dl, budget: 50% }\n", {
    file: "/tmp/r.yaml",
  });
  assert.deepEqual(runBudgets(r, BYTES), { run: 500e6, stages: {} });
});

Deno.test("stage budgets are fractions of their stage and must sum within the run's", () => {
  const ok = parseRecipe(
    "bundle: b\nprompt: p\nscheduler: { name: ci-dl, budget: { run: 600MB, denoiser: 50%, vae: 10MB } }\n",
    { file: "/tmp/r.yaml" },
  );
  assert.deepEqual(runBudgets(ok, BYTES), { run: 600e6, stages: { denoiser: 400e6, vae: 10e6 } });
  const all = parseRecipe(
    "bundle: b\nprompt: p\nscheduler: { name: ci-dl, budget: { text: 10MB, denoiser: 50%, vae: 10MB } }\n",
    { file: "/tmp/r.yaml" },
  );
  assert.equal(runBudgets(all, BYTES).run, 420e6, "three stage budgets and no run budget: their sum");
  const over = parseRecipe(
    "bundle: b\nprompt: p\nscheduler: { name: ci-dl, budget: { run: 300MB, denoiser: 50% } }\n",
    { file: "/tmp/r.yaml" },
  );
  assert.throws(
    () => runBudgets(over, BYTES),
    (e) =>
      e instanceof RecipeError &&
      /stages' budgets sum to '381.5 MiB', over the run's '286.1 MiB'/.test(e.message),
  );
  assert.throws(
    () => parseRecipe("bundle: b\nprompt: p\nscheduler: { name: ci-dl, budget: { denoiser: lots } }\n"),
    (e) => e instanceof RecipeError && /'lots' is not a budget/.test(e.message),
  );
});

Deno.test("a token embedding counts the rows its tokens touch, not its table", () => {
  // T5 at d_model 512: a 32128-row table (62.8 MiB) plus a 128-value position bias
  const block = { bytes: 65802901, params: 32128 * 512 + 128 };
  const touched = sparseEmbeddingBytes(block, 512, 64);
  assert.ok(touched < 2 ** 20, `${touched}`);
  assert.ok(touched >= 64 * 2 * 4096);
  assert.equal(sparseEmbeddingBytes({ bytes: 1000 }, 512, 64), 1000, "unknown parameters: the whole file");
});
