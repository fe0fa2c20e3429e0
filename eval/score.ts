/**
 * Score analyzed clips against their labels: per-attribute accuracy overall and on held-out combinations.
 * Also reads a folder of labelled raw clips (what export/world/gt.py and export/train/monitor.py write)
 * and, run as a script, prints its scores as JSON:
 *
 *   deno run -A eval/score.ts DIR
 *
 * @module
 */
import { join } from "node:path";
import { analyzeClip, type ClipAnalysis } from "./analyze.ts";

/** The attributes the evaluation checks. */
export const ATTRIBUTES = ["color", "shape", "motion"] as const;

/** One evaluated clip: what was asked for and what the analyzer saw. */
export interface ScoredItem {
  prompt: string;
  heldout: boolean;
  expected: Record<string, string>;
  got: Record<string, string>;
  correct: Record<string, boolean>;
}

/** Accuracy per attribute (fraction in [0, 1]; null when there are no items). */
export type Accuracy = Record<(typeof ATTRIBUTES)[number], number | null>;

/** Compare one analysis with the expected labels. */
export function scoreItem(
  prompt: string,
  heldout: boolean,
  expected: Record<string, string>,
  got: ClipAnalysis,
): ScoredItem {
  const g: Record<string, string> = {
    color: got.color,
    shape: got.shape,
    motion: got.motion,
    background: got.background,
  };
  const correct: Record<string, boolean> = {};
  for (const a of ATTRIBUTES) correct[a] = g[a] === expected[a];
  return { prompt, heldout, expected, got: g, correct };
}

/** Per-attribute accuracy of `items`. */
export function accuracy(items: readonly ScoredItem[]): Accuracy {
  const out = {} as Accuracy;
  for (const a of ATTRIBUTES) {
    out[a] = items.length ? items.filter((i) => i.correct[a]).length / items.length : null;
  }
  return out;
}

/** Analyze and score every clip listed in `dir`/labels.jsonl (raw uint8 RGB frames, one file a clip). */
export async function scoreFolder(dir: string): Promise<ScoredItem[]> {
  const text = await Deno.readTextFile(join(dir, "labels.jsonl"));
  const items: ScoredItem[] = [];
  for (const line of text.trim().split("\n")) {
    const l = JSON.parse(line);
    const data = await Deno.readFile(join(dir, l.file));
    const got = analyzeClip({ width: l.width, height: l.height, count: l.frames, data });
    items.push(scoreItem(l.prompt ?? l.caption ?? l.file, Boolean(l.heldout), l, got));
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
