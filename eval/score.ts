/**
 * Score analyzed clips against their labels: per-attribute accuracy overall and on held-out combinations,
 * each clip's motion ratio (its displacement along the asked direction over the world's slowest) and its
 * temporal consistency. Also reads a folder of labelled raw clips with its world.json (what
 * export/world/gt.py and export/train/monitor.py write) and, run as a script, prints its scores as JSON:
 *
 *   deno run -A eval/score.ts DIR
 *
 * @module
 */
import { join } from "node:path";
import { analyzeClip, type ClipAnalysis } from "./analyze.ts";
import { readWorld, slowestDisplacement } from "./world.ts";

/** The attributes the evaluation checks. */
export const ATTRIBUTES = ["color", "shape", "motion", "background"] as const;

/** One evaluated clip: what was asked for, what the analyzer saw, and the clip's measures. */
export interface ScoredItem {
  prompt: string;
  heldout: boolean;
  expected: Record<string, string>;
  got: Record<string, string>;
  correct: Record<string, boolean>;
  /** Displacement along the asked direction / the world's slowest over the clip (null for one frame). */
  motion_ratio: number | null;
  consistency: { object: number; background: number };
  /** SSIM and PSNR against the default variant's clip of the same prompt and seed (null for default). */
  fidelity?: { ssim: number; psnr: number } | null;
}

/** Accuracy per attribute (fraction in [0, 1]; null when no item states that attribute). */
export type Accuracy = Record<(typeof ATTRIBUTES)[number], number | null>;

const DIRECTIONS: Record<string, [number, number]> = {
  left: [-1, 0],
  right: [1, 0],
  up: [0, -1],
  down: [0, 1],
};

/**
 * The displacement along `motion`'s direction (its length when `motion` names none) over `slowest`; null
 * when the world gives no displacement over this clip (a single frame).
 *
 * @example
 * ```ts
 * import { motionRatio } from "./score.ts";
 * motionRatio([-25, 2], "left", 20); // 1.25
 * motionRatio([25, 0], "left", 20); // -1.25 (the wrong way)
 * ```
 */
export function motionRatio(
  displacement: readonly [number, number],
  motion: string,
  slowest: number,
): number | null {
  if (!(slowest > 0)) return null;
  const d = DIRECTIONS[motion];
  const along = d ? displacement[0] * d[0] + displacement[1] * d[1] : Math.hypot(...displacement);
  return along / slowest;
}

const round = (v: number, digits = 4) => Number(v.toFixed(digits));

/** Compare one analysis with the expected labels; `slowest` is the world's slowest displacement over the clip. */
export function scoreItem(
  prompt: string,
  heldout: boolean,
  expected: Record<string, string>,
  got: ClipAnalysis,
  slowest: number,
): ScoredItem {
  const g: Record<string, string> = {
    color: got.color,
    shape: got.shape,
    motion: got.motion,
    background: got.background,
  };
  const exp: Record<string, string> = {};
  const correct: Record<string, boolean> = {};
  for (const a of ATTRIBUTES) {
    if (typeof expected[a] !== "string") continue;
    exp[a] = expected[a];
    correct[a] = g[a] === expected[a];
  }
  const ratio = motionRatio(got.displacement, expected.motion, slowest);
  return {
    prompt,
    heldout,
    expected: exp,
    got: g,
    correct,
    motion_ratio: ratio === null ? null : round(ratio, 3),
    consistency: {
      object: round(got.consistency.object, 3),
      background: round(got.consistency.background, 3),
    },
  };
}

/** Per-attribute accuracy of `items` (over the items that state the attribute). */
export function accuracy(items: readonly ScoredItem[]): Accuracy {
  const out = {} as Accuracy;
  for (const a of ATTRIBUTES) {
    const stated = items.filter((i) => a in i.correct);
    out[a] = stated.length ? stated.filter((i) => i.correct[a]).length / stated.length : null;
  }
  return out;
}

/** The median of the non-null values (null when there are none). */
export function median(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** The mean of the values (null when there are none). */
export function mean(values: readonly number[]): number | null {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

/** Analyze and score every clip listed in `dir`/labels.jsonl (raw uint8 RGB frames) with `dir`/world.json. */
export async function scoreFolder(dir: string): Promise<ScoredItem[]> {
  const world = await readWorld(join(dir, "world.json"));
  const text = await Deno.readTextFile(join(dir, "labels.jsonl"));
  const items: ScoredItem[] = [];
  for (const line of text.trim().split("\n")) {
    const l = JSON.parse(line);
    const data = await Deno.readFile(join(dir, l.file));
    const slowest = slowestDisplacement(world, l.frames);
    const got = analyzeClip({ width: l.width, height: l.height, count: l.frames, data }, {
      minDisplacement: slowest / 2,
    });
    items.push(scoreItem(l.prompt ?? l.caption ?? l.file, Boolean(l.heldout), l, got, slowest));
  }
  return items;
}

if (import.meta.main) {
  const items = await scoreFolder(Deno.args[0]);
  const held = items.filter((i) => i.heldout);
  console.log(
    JSON.stringify({ n: items.length, accuracy: accuracy(items), heldout_accuracy: accuracy(held), items }),
  );
}
