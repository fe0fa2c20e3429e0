import assert from "node:assert/strict";
import { join } from "node:path";
import { analyzeClip, nameBackground, nameMotion } from "./analyze.ts";
import { BACKGROUNDS, COLORS, MOTIONS, SHAPES } from "./palette.ts";
import { readWorld, slowestDisplacement } from "./world.ts";

type Size = { frames: number; height: number; width: number };

/** Run the Python exporter (`scripts/py -m ...`), failing the test with its stderr. */
async function py(...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("scripts/py", { args, stdout: "null", stderr: "piped" })
    .output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

/**
 * Every clip size the default model trains on, as the exporter describes it (export/world/world_json.py: the
 * buckets when there are, the one training size otherwise), plus a T = 1 image at each frame size.
 */
async function trainedSizes(): Promise<Size[]> {
  const dir = await Deno.makeTempDir({ prefix: "odsora_world_" });
  try {
    await py("-m", "export.world.world_json", "--out", join(dir, "world.json"));
    const world = await readWorld(join(dir, "world.json"));
    const sizes = new Map<string, Size>();
    for (const c of world.clips) {
      for (const frames of [c.frames, 1]) sizes.set(`${frames}x${c.height}x${c.width}`, { ...c, frames });
    }
    return [...sizes.values()].map(({ frames, height, width }) => ({ frames, height, width }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const BUCKETS = await trainedSizes();
const CLIPS_PER_BUCKET = Math.max(40, Math.ceil(240 / BUCKETS.length));

/** Let the Python world write `n` ground-truth clips of one size (raw frames, labels, world.json). */
async function writeGroundTruth(
  n: number,
  seed: number,
  size: Size = { frames: 17, height: 64, width: 64 },
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "odsora_gt_" });
  await py(
    ...["-m", "export.world.gt", "--out", dir, "--n", String(n), "--seed", String(seed)],
    ...["--frames", String(size.frames), "--height", String(size.height), "--width", String(size.width)],
  );
  return dir;
}

Deno.test("palette matches the Python world's world.json", async () => {
  const dir = await writeGroundTruth(1, 1);
  try {
    const world = JSON.parse(await Deno.readTextFile(join(dir, "world.json")));
    assert.equal(world.schema, "odsora.world/1");
    assert.deepEqual(world.colors, COLORS);
    assert.deepEqual(world.backgrounds, BACKGROUNDS);
    assert.deepEqual(world.shapes, SHAPES);
    assert.deepEqual(world.motions, MOTIONS);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const size of BUCKETS) {
  const name = `${size.frames}x${size.height}x${size.width}`;
  Deno.test(`analyzeClip() names colour, shape, motion (strict) and background of ${name} ground truth (>= 98% each)`, async () => {
    const dir = await writeGroundTruth(CLIPS_PER_BUCKET, 7 + size.frames + size.height, size);
    try {
      const world = await readWorld(join(dir, "world.json"));
      const slowest = slowestDisplacement(world, size.frames);
      const lines = (await Deno.readTextFile(join(dir, "labels.jsonl"))).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.equal(lines.length, CLIPS_PER_BUCKET);
      const hits = { color: 0, shape: 0, motion: 0, background: 0 };
      const misses: string[] = [];
      for (const label of lines) {
        const data = await Deno.readFile(join(dir, label.file));
        const got = analyzeClip({ width: label.width, height: label.height, count: label.frames, data }, {
          minDisplacement: slowest / 2,
        });
        for (const k of Object.keys(hits) as (keyof typeof hits)[]) {
          if (got[k] === label[k]) hits[k]++;
          else misses.push(`${label.file} ${k}: want ${label[k]} got ${got[k]}`);
        }
        assert.equal(got.consistency.background, 1, `${label.file}: a drawn background never changes`);
      }
      for (const [k, n] of Object.entries(hits)) {
        assert.ok(
          n / CLIPS_PER_BUCKET >= 0.98,
          `${name} ${k} accuracy ${n}/${CLIPS_PER_BUCKET}; misses: ${misses.slice(0, 10).join("; ")}`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** A 17-frame 64x64 clip: a red 12x12 square moving right by `travel` pixels on `bg`. */
function squareClip(travel: number, bg: [number, number, number]): Uint8Array {
  const w = 64, h = 64, n = 17;
  const data = new Uint8Array(n * w * h * 3);
  for (let t = 0; t < n; t++) {
    const x0 = Math.round(20 + (travel * t) / (n - 1));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inside = x >= x0 && x < x0 + 12 && y >= 26 && y < 38;
        data.set(inside ? [220, 40, 40] : bg, ((t * h + y) * w + x) * 3);
      }
    }
  }
  return data;
}

Deno.test("analyzeClip() calls a displacement under half the world's slowest 'still', and one above it moving", () => {
  const world = {
    schema: "odsora.world/1",
    clips: [{ frames: 17, height: 64, width: 64, travel_min_px: 20, travel_max_px: 30 }],
  };
  const half = slowestDisplacement(world, 17) / 2; // 10 px
  const frames = (travel: number) => ({
    width: 64,
    height: 64,
    count: 17,
    data: squareClip(travel, [0, 0, 0]),
  });
  assert.equal(analyzeClip(frames(6), { minDisplacement: half }).motion, "still");
  assert.equal(analyzeClip(frames(9), { minDisplacement: half }).motion, "still");
  assert.equal(analyzeClip(frames(12), { minDisplacement: half }).motion, "right");
  // the old 2-pixel rule would have called 6 px "right": the strict rule is what changed
  assert.equal(analyzeClip(frames(6), { minDisplacement: 2 }).motion, "right");
  assert.equal(nameMotion([0, 0], 0), "still");
});

Deno.test("analyzeClip() does not call a gray-cast or smeared black background 'black'", () => {
  const frames = (bg: [number, number, number]) => ({
    width: 64,
    height: 64,
    count: 17,
    data: squareClip(25, bg),
  });
  assert.equal(analyzeClip(frames([0, 0, 0]), { minDisplacement: 10 }).background, "black");
  assert.equal(analyzeClip(frames([6, 8, 5]), { minDisplacement: 10 }).background, "black");
  const cast = analyzeClip(frames([55, 55, 55]), { minDisplacement: 10 });
  assert.equal(cast.background, "other");
  assert.equal(cast.color, "red");
  // green smears over a black background: the border stays black, but the foreign pixels are too many
  const smeared = squareClip(25, [0, 0, 0]);
  for (let t = 0; t < 17; t++) {
    for (let y = 2; y < 14; y++) {
      for (let x = 2; x < 40; x++) smeared.set([30, 120, 40], ((t * 64 + y) * 64 + x) * 3);
    }
  }
  const got = analyzeClip({ width: 64, height: 64, count: 17, data: smeared }, { minDisplacement: 10 });
  assert.ok(got.foreignShare > 0.05, `foreign share ${got.foreignShare}`);
  assert.equal(got.background, "other");
  assert.equal(nameBackground([118, 121, 119], 0), "gray");
});

Deno.test("analyzeClip() reports no object in a blank clip", () => {
  const data = new Uint8Array(4 * 16 * 16 * 3).fill(120);
  const got = analyzeClip({ width: 16, height: 16, count: 4, data }, { minDisplacement: 5 });
  assert.equal(got.background, "gray");
  assert.equal(got.color, "none");
  assert.equal(got.motion, "none");
  assert.equal(got.consistency.object, 0);
});
