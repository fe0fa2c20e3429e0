import assert from "node:assert/strict";
import { join } from "node:path";
import { analyzeClip } from "./analyze.ts";
import { BACKGROUNDS, COLORS, MOTIONS, SHAPES } from "./palette.ts";

const CLIPS = 240;

/** Let the Python world write `n` ground-truth clips (raw frames + labels) into a fresh temp dir. */
async function writeGroundTruth(n: number, seed: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "odsora_gt_" });
  const { code, stderr } = await new Deno.Command("scripts/py", {
    args: ["-m", "export.world.gt", "--out", dir, "--n", String(n), "--seed", String(seed)],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return dir;
}

Deno.test("palette matches the Python world's world.json", async () => {
  const dir = await writeGroundTruth(1, 1);
  try {
    const world = JSON.parse(await Deno.readTextFile(join(dir, "world.json")));
    assert.deepEqual(world.colors, COLORS);
    assert.deepEqual(world.backgrounds, BACKGROUNDS);
    assert.deepEqual(world.shapes, SHAPES);
    assert.deepEqual(world.motions, MOTIONS);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyzeClip() names colour, shape, motion and background of ground-truth clips (>= 98% each)", async () => {
  const dir = await writeGroundTruth(CLIPS, 7);
  try {
    const lines = (await Deno.readTextFile(join(dir, "labels.jsonl"))).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(lines.length, CLIPS);
    const hits = { color: 0, shape: 0, motion: 0, background: 0 };
    const misses: string[] = [];
    for (const label of lines) {
      const data = await Deno.readFile(join(dir, label.file));
      const got = analyzeClip({ width: label.width, height: label.height, count: label.frames, data });
      for (const k of Object.keys(hits) as (keyof typeof hits)[]) {
        if (got[k] === label[k]) hits[k]++;
        else misses.push(`${label.file} ${k}: want ${label[k]} got ${got[k]}`);
      }
    }
    for (const [k, n] of Object.entries(hits)) {
      assert.ok(n / CLIPS >= 0.98, `${k} accuracy ${n}/${CLIPS}; misses: ${misses.slice(0, 10).join("; ")}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyzeClip() reports no object in a blank clip", () => {
  const data = new Uint8Array(4 * 16 * 16 * 3).fill(120);
  const got = analyzeClip({ width: 16, height: 16, count: 4, data });
  assert.equal(got.background, "gray");
  assert.equal(got.color, "none");
  assert.equal(got.motion, "none");
});
