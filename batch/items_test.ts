import assert from "node:assert/strict";
import { BatchError, expandJobs, parseBatchPrompts, parseManifest, shards } from "./items.ts";

Deno.test("parseBatchPrompts: prompts, expected attributes all or none, errors name the line", () => {
  const ps = parseBatchPrompts(
    '{"prompt": "a red circle"}\n\n{"prompt": "a blue square", "color": "blue", "shape": "square", "motion": "up", "heldout": true}\n',
    "p.jsonl",
  );
  assert.deepEqual(ps[0], { prompt: "a red circle", expected: null, heldout: false });
  assert.deepEqual(ps[1].expected, { color: "blue", shape: "square", motion: "up" });
  assert.equal(ps[1].heldout, true);
  assert.throws(() => parseBatchPrompts("{}\n", "p"), /line 1 has no string 'prompt'/);
  assert.throws(() => parseBatchPrompts('{"prompt": "x"}\nnope', "p"), /line 2 is not JSON/);
  assert.throws(() => parseBatchPrompts('{"prompt": "x", "color": "red"}', "p"), BatchError);
  assert.throws(() => parseBatchPrompts("\n\n", "p"), /holds no prompts/);
});

Deno.test("expandJobs: prompts × variants × seeds, names and distinct keys", async () => {
  const prompts = parseBatchPrompts('{"prompt": "a"}\n{"prompt": "b"}', "p");
  const jobs = await expandJobs(prompts, {
    recipe: "/r.yaml",
    recipeText: "seed: 7",
    baseSeed: 7,
    seeds: 2,
    variants: { default: {}, "lpl-15": { sampler: { name: "lpl", leapAt: 15 } } },
  });
  assert.deepEqual(jobs.map((j) => j.name), [
    "0000-default-s7",
    "0000-default-s8",
    "0000-lpl-15-s7",
    "0000-lpl-15-s8",
    "0001-default-s7",
    "0001-default-s8",
    "0001-lpl-15-s7",
    "0001-lpl-15-s8",
  ]);
  assert.equal(new Set(jobs.map((j) => j.key)).size, 8);
  assert.deepEqual(jobs[3].overrides, { sampler: { name: "lpl", leapAt: 15 }, prompt: "a", seed: 8 });
  const again = await expandJobs(prompts, {
    recipe: "/r.yaml",
    recipeText: "seed: 7 # edited",
    baseSeed: 7,
    seeds: 1,
    variants: { default: {} },
  });
  assert.notEqual(again[0].key, jobs[0].key, "a changed recipe changes the key");
});

Deno.test("parseManifest: records by key; a cut last line is dropped and reported", () => {
  const a = JSON.stringify({ item: "0000", key: "k0" }), b = JSON.stringify({ item: "0001", key: "k1" });
  const whole = parseManifest(`${a}\n${b}\n`);
  assert.deepEqual([...whole.records.keys()], ["k0", "k1"]);
  assert.equal(whole.cut, false);
  const cut = parseManifest(`${a}\n${b.slice(0, 10)}`);
  assert.deepEqual([...cut.records.keys()], ["k0"]);
  assert.equal(cut.cut, true);
  assert.throws(() => parseManifest("nope\n"), /line 1 is not JSON/);
});

Deno.test("shards: fixed size, last one shorter", () => {
  assert.deepEqual(shards([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
});
