import assert from "node:assert/strict";
import { EvalError, parsePrompts, readPrompts } from "./prompt_file.ts";
import { accuracy, scoreItem } from "./score.ts";
import { parseVariants, variantOverrides } from "./variants.ts";
import type { ClipAnalysis } from "./analyze.ts";

Deno.test("readPrompts() reads the shipped prompt set with held-out combinations", async () => {
  const prompts = await readPrompts("eval/prompts.jsonl");
  assert.ok(prompts.length >= 60);
  const held = prompts.filter((p) => p.heldout);
  assert.ok(held.length > 0 && held.length < prompts.length);
  for (const p of prompts) {
    assert.equal(p.prompt, `a ${p.color} ${p.shape} moving ${p.motion} on a ${p.prompt.split(" on a ")[1]}`);
  }
});

Deno.test("parsePrompts() names the file and line of a bad entry", () => {
  assert.throws(
    () => parsePrompts("{}\n", "p.jsonl"),
    new EvalError("Cannot read prompt file 'p.jsonl': line 1 has no string 'prompt'"),
  );
  const good = '{"prompt": "a red circle", "color": "red", "shape": "circle", "motion": "up"}';
  assert.throws(() => parsePrompts(`${good}\n\nnot json\n`, "p.jsonl"), /line 3 is not JSON/);
  assert.throws(() => parsePrompts("\n\n", "p.jsonl"), /holds no prompts/);
  assert.throws(
    () => parsePrompts('{"prompt": "x", "color": 3, "shape": "s", "motion": "m"}', "p"),
    /no string 'color'/,
  );
});

Deno.test("parseVariants() accepts known variants and 'every', rejects others", () => {
  assert.deepEqual(parseVariants("default,lpl-15"), ["default", "lpl-15"]);
  assert.deepEqual(parseVariants("every"), [
    "default",
    "lpl-15",
    "tdtm-15",
    "tdtm-15-paper",
    "all",
    "all-paper",
    "cache",
    "all-cache",
  ]);
  assert.throws(() => parseVariants("lpl-16"), /Cannot pick variant 'lpl-16'/);
});

Deno.test("accuracy() counts each attribute separately", () => {
  const got = (color: string, shape: string, motion: string, background = "black") =>
    ({
      color,
      shape,
      motion,
      background,
      displacement: [0, -20],
      consistency: { object: 1, background: 1, backgroundChange: 0 },
    }) as unknown as ClipAnalysis;
  const want = { color: "red", shape: "circle", motion: "up", background: "black" };
  const items = [
    scoreItem("a", false, want, got("red", "circle", "up"), 20),
    scoreItem("b", true, want, got("red", "square", "down", "other"), 20),
  ];
  assert.deepEqual(accuracy(items), { color: 1, shape: 0.5, motion: 0.5, background: 0.5 });
  assert.deepEqual(accuracy(items.filter((i) => i.heldout)), {
    color: 1,
    shape: 0,
    motion: 0,
    background: 0,
  });
  assert.deepEqual(accuracy([]), { color: null, shape: null, motion: null, background: null });
  assert.equal(items[0].motion_ratio, 1);
  // a prompt file without backgrounds does not score them
  const noBg = scoreItem(
    "c",
    false,
    { color: "red", shape: "circle", motion: "up" },
    got("red", "circle", "up"),
    20,
  );
  assert.equal(accuracy([noBg]).background, null);
});

Deno.test("variantOverrides() scales a MiB denoiser budget with the clip length, leaves others alone", () => {
  const budget = (frames: number | null) =>
    (variantOverrides("all", frames).scheduler as { budget: { denoiser: string } }).budget.denoiser;
  assert.equal(budget(34), "128MiB");
  assert.equal(budget(null), "128MiB");
  assert.equal(budget(17), "32MiB");
  assert.equal(budget(68), "512MiB");
  assert.deepEqual(variantOverrides("lpl-15", 34), { sampler: { name: "lpl", leapAt: 15 } });
});
