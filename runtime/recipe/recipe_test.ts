import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { RecipeError } from "../core/errors.ts";
import { loadRecipe, locate, parseBudget, parseRecipe } from "./recipe.ts";

const GOOD = `# a full recipe
bundle: ../models/default
prompt: a red circle moving left
seed: 7
height: 64
width: 64
frames: 16
fps: 8
steps: 12
cfg: 5.5
schedule: { discrete: true }
sampler:
  name: lpl
  leap_at: 6
token_ops:
  - name: tdtm
    merge_steps: 4
scheduler:
  name: ci-dl
  budget: 50%
executor: { name: local, lanes: 2, threads: 1 }
output:
  dir: ../out
  name: clip
  formats: [mp4, gif, png]
`;

function recipeError(fn: () => unknown): RecipeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof RecipeError, `expected a RecipeError, got ${e}`);
    return e;
  }
  throw new assert.AssertionError({ message: "expected a RecipeError" });
}

Deno.test("parseRecipe() reads every key, resolves paths against the recipe file", () => {
  const r = parseRecipe(GOOD, { file: "recipes/x.yaml" });
  assert.equal(r.bundle, resolve("models/default"));
  assert.deepEqual(r.prompts, ["a red circle moving left"]);
  assert.deepEqual([r.seed, r.height, r.width, r.frames, r.fps, r.steps, r.cfg], [7, 64, 64, 16, 8, 12, 5.5]);
  assert.deepEqual(r.schedule, { discrete: true, shift: true });
  assert.deepEqual(r.sampler, { name: "lpl", leap_at: 6 });
  assert.deepEqual(r.tokenOps, [{ name: "tdtm", merge_steps: 4 }]);
  assert.deepEqual(r.scheduler, { name: "ci-dl" });
  assert.deepEqual(r.budget, { fraction: 0.5 });
  assert.deepEqual(r.executor, { name: "local", lanes: 2, threads: 1 });
  assert.deepEqual(r.output, { dir: resolve("out"), name: "clip", formats: ["mp4", "gif", "png"] });
  assert.equal(r.baseDir, resolve("recipes"));
  assert.equal(locate(r, ["sampler", "leap_at"]), "line 14");
  assert.equal(locate(r, ["scheduler", "budget"]), "line 20");
  assert.deepEqual([locate(r, ["token_ops", 0]), locate(r, ["token_ops", 0, "merge_steps"])], [
    "line 16",
    "line 17",
  ]);
  // a recipe is plain data (where its keys came from included): it clones and serializes whole
  assert.deepEqual(structuredClone(r), r);
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
});

Deno.test("parseRecipe() fills defaults (frame size and fps left to the bundle)", () => {
  const r = parseRecipe("bundle: b\nprompts: [one, two]\n", { file: "/tmp/r.yaml", cwd: "/work" });
  assert.deepEqual(r.prompts, ["one", "two"]);
  assert.deepEqual([r.seed, r.steps, r.cfg, r.height, r.width, r.frames, r.fps], [
    42,
    30,
    7,
    null,
    null,
    null,
    null,
  ]);
  assert.deepEqual([r.sampler, r.scheduler, r.executor, r.budget], [{ name: "euler" }, { name: "resident" }, {
    name: "local",
  }, null]);
  assert.deepEqual(r.output, { dir: "/work/out", name: "sample", formats: ["mp4"] });
  assert.equal(locate(r, ["steps"]), null);
});

Deno.test("parseRecipe() applies overrides before validation and names them in errors", () => {
  const label = (k: string) => ({ "output.dir": "--out", steps: "--steps" }[k] ?? `--${k}`);
  const r = parseRecipe(GOOD, {
    file: "recipes/x.yaml",
    overrides: {
      prompt: "a blue square",
      seed: 3,
      "output.dir": "elsewhere",
      steps: undefined,
      bundle: "m/b",
    },
    overrideLabel: label,
    cwd: "/tmp",
  });
  assert.deepEqual([r.prompts, r.seed, r.steps, r.output.dir], [["a blue square"], 3, 12, "/tmp/elsewhere"]);
  assert.equal(r.bundle, "/tmp/m/b", "a command-line path is relative to the current directory");
  assert.equal(locate(r, ["seed"]), "option --seed");
  const e = recipeError(() =>
    parseRecipe(GOOD, { file: "recipes/x.yaml", overrides: { steps: 0 }, overrideLabel: label })
  );
  assert.match(e.message, /^Cannot read recipe 'recipes\/x\.yaml': --steps \(key 'steps'\): /);
  assert.equal(e.line, null);
  // --prompt replaces a recipe's prompts list
  const p = parseRecipe("bundle: b\nprompts: [x, y]\n", { overrides: { prompt: "z" } });
  assert.deepEqual(p.prompts, ["z"]);
});

Deno.test("parseRecipe() rejects unknown keys with file, key path and line", () => {
  const e = recipeError(() => parseRecipe(GOOD.replace("  formats:", "  formts:"), { file: "r.yaml" }));
  assert.equal(e.message, "Cannot read recipe 'r.yaml': line 25, key 'output.formts': unknown key 'formts'");
  assert.deepEqual([e.file, e.path, e.line], ["r.yaml", "output.formts", 25]);
  const top = recipeError(() =>
    parseRecipe("bundle: b\nprompt: p\nsamplr:\n  name: euler\n", { file: "r.yaml" })
  );
  assert.equal(top.message, "Cannot read recipe 'r.yaml': line 3, key 'samplr': unknown key 'samplr'");
});

Deno.test("parseRecipe() reports wrong types, bad budgets and plugin refs at their line", () => {
  const steps = recipeError(() => parseRecipe(GOOD.replace("steps: 12", "steps: many"), { file: "r.yaml" }));
  assert.match(steps.message, /^Cannot read recipe 'r\.yaml': line 9, key 'steps': .*expected number/);
  const budget = recipeError(() => parseRecipe(GOOD.replace("50%", "lots"), { file: "r.yaml" }));
  assert.equal(
    budget.message,
    "Cannot read recipe 'r.yaml': line 20, key 'scheduler.budget': 'lots' is not a budget " +
      "(examples: '3.3GB', '512MiB', '50%', 'none')",
  );
  const both = recipeError(() =>
    parseRecipe(GOOD.replace("  leap_at: 6", "  plugin: ./x.ts"), { file: "r.yaml" })
  );
  assert.match(both.message, /line 13, key 'sampler': give exactly one of 'name'/);
  const fmt = recipeError(() =>
    parseRecipe(GOOD.replace("[mp4, gif, png]", "[mp4, avi]"), { file: "r.yaml" })
  );
  assert.match(fmt.message, /line 25, key 'output\.formats\.1': /);
  const none = recipeError(() => parseRecipe("bundle: b\n", { file: "r.yaml" }));
  assert.match(none.message, /key 'prompt': give exactly one of 'prompt' or 'prompts'/);
});

Deno.test("parseRecipe() reports malformed YAML with its line", () => {
  const e = recipeError(() => parseRecipe("bundle: b\nprompt: [unclosed\nseed: 1\n", { file: "bad.yaml" }));
  assert.match(e.message, /^Cannot read recipe 'bad\.yaml': line \d+: malformed YAML \(/);
  assert.ok(e.line !== null && e.line >= 2);
  const dup = recipeError(() => parseRecipe("bundle: b\nprompt: p\nseed: 1\nseed: 2\n", { file: "d.yaml" }));
  assert.match(dup.message, /line 4: malformed YAML \(.*[Uu]nique/);
  const list = recipeError(() => parseRecipe("- a\n- b\n", { file: "l.yaml" }));
  assert.match(list.message, /a recipe is a mapping/);
});

Deno.test("loadRecipe() reads a file and reports a missing one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "r.yaml");
    await Deno.writeTextFile(path, "bundle: ./b\nprompt: p\n");
    assert.equal((await loadRecipe(path)).bundle, join(dir, "b"));
    await assert.rejects(() => loadRecipe(join(dir, "nope.yaml")), RecipeError, "the file does not exist");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseBudget() reads decimal, binary, percent and none", () => {
  assert.deepEqual(parseBudget("3.3GB"), { bytes: 3_300_000_000 });
  assert.deepEqual(parseBudget("512MiB"), { bytes: 512 * 2 ** 20 });
  assert.deepEqual(parseBudget("25%"), { fraction: 0.25 });
  assert.deepEqual(parseBudget(1000), { bytes: 1000 });
  assert.equal(parseBudget("none"), null);
  assert.match(parseBudget("150%") as string, /not in/);
  assert.match(parseBudget("-3GB") as string, /not a budget/);
});
