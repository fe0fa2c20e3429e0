/**
 * The most memory a plan can hold at one moment when the plan runner carries it out
 * (runtime/core/plan_runner.ts), whatever the timings: ops on one lane run in order, a run waits for the
 * previous run and for its block's load, an unload waits for its block's run; sections (setup, each pass,
 * teardown) run one after the other.
 *
 * A block's weights are held from the start of its load to the end of its unload. A run's working memory
 * stays with its lane: the lane's heap keeps it for the next run (lanes do not hand heap pages back after
 * a streamed block, so that runs do not fault them in again), so each lane that runs blocks in a section
 * holds the working memory of its largest run for the whole section. A set of such intervals can be active at the same moment in some execution exactly when
 * no interval's end must finish before another's start, so the peak is the heaviest such set: a maximum
 * weight clique of the "may overlap" graph (small here, solved exactly by branch and bound).
 *
 * @module
 */
import type { BlockInfo, Plan, PlanOp } from "../runtime/core/types.ts";

/**
 * Bytes of weights plus working memory the plan may hold at once, given the stage's measured blocks.
 *
 * @example
 * ```ts
 * const blocks = [{ name: "a", bytes: 10, workBytes: 2 }];
 * const plan = { setup: [], pass: [{ op: "load", block: "a", lane: 0 }, { op: "run", block: "a", lane: 0 },
 *   { op: "unload", block: "a", lane: 0 }], teardown: [] } as const;
 * planPeakBytes(plan, blocks); // 12
 * ```
 */
export function planPeakBytes(
  plan: Pick<Plan, "setup" | "pass" | "teardown">,
  blocks: readonly BlockInfo[],
): number {
  const info = new Map(blocks.map((b) => [b.name, b]));
  let held = new Set<string>();
  let peak = 0;
  // The second pass starts from what the first left loaded (the resident blocks), as every later pass.
  for (const section of [plan.setup, plan.pass, plan.pass, plan.teardown]) {
    const result = sectionPeak(section, held, (name) => info.get(name));
    peak = Math.max(peak, result.peak);
    held = result.after;
  }
  return peak;
}

/** An interval of held memory: from op `start` (−1: before the section) to op `end` (n: after it). */
interface Interval {
  start: number;
  end: number;
  bytes: number;
}

function sectionPeak(
  ops: readonly PlanOp[],
  before: ReadonlySet<string>,
  info: (name: string) => BlockInfo | undefined,
): { peak: number; after: Set<string> } {
  const n = ops.length;
  const words = Math.ceil(n / 32) || 1;
  const anc = Array.from({ length: n }, () => new Uint32Array(words)); // ops that finish before op i starts
  const edge = (from: number | undefined, to: number) => {
    if (from === undefined || from < 0) return;
    for (let w = 0; w < words; w++) anc[to][w] |= anc[from][w];
    anc[to][from >> 5] |= 1 << (from & 31);
  };
  const lastOnLane = new Map<number, number>();
  const lastLoad = new Map<string, number>();
  const lastRun = new Map<string, number>();
  const open = new Map<string, Interval>(
    [...before].map((b) => [b, { start: -1, end: n, bytes: info(b)?.bytes ?? 0 }]),
  );
  const intervals: Interval[] = [...open.values()];
  let previousRun: number | undefined;
  const laneWork = new Map<number, number>();
  ops.forEach((op, i) => {
    edge(lastOnLane.get(op.lane), i);
    lastOnLane.set(op.lane, i);
    if (op.op === "load") {
      lastLoad.set(op.block, i);
      const interval = { start: i, end: n, bytes: info(op.block)?.bytes ?? 0 };
      open.set(op.block, interval);
      intervals.push(interval);
    } else if (op.op === "run") {
      edge(previousRun, i);
      edge(lastLoad.get(op.block), i);
      previousRun = i;
      lastRun.set(op.block, i);
      laneWork.set(op.lane, Math.max(laneWork.get(op.lane) ?? 0, info(op.block)?.workBytes ?? 0));
    } else {
      edge(lastRun.get(op.block), i);
      edge(lastLoad.get(op.block), i);
      const interval = open.get(op.block);
      if (interval) interval.end = i;
      open.delete(op.block);
    }
  });
  for (const bytes of laneWork.values()) intervals.push({ start: -1, end: n, bytes });
  const precedes = (a: number, b: number) =>
    a >= 0 && a < n && b >= 0 && b < n && (anc[b][a >> 5] & (1 << (a & 31))) !== 0;
  const overlap = (x: Interval, y: Interval) => !precedes(x.end, y.start) && !precedes(y.end, x.start);
  return { peak: maxWeightClique(intervals, overlap), after: new Set(open.keys()) };
}

/** The heaviest set of pairwise-overlapping intervals (exact branch and bound). */
function maxWeightClique(items: readonly Interval[], overlap: (x: Interval, y: Interval) => boolean): number {
  const live = items.filter((x) => x.bytes > 0);
  const universal = live.filter((x) => live.every((y) => x === y || overlap(x, y)));
  const base = universal.reduce((s, x) => s + x.bytes, 0);
  const rest = live.filter((x) => !universal.includes(x)).sort((a, b) => b.bytes - a.bytes);
  let best = 0;
  const expand = (candidates: Interval[], weight: number) => {
    let remaining = candidates.reduce((s, x) => s + x.bytes, 0);
    best = Math.max(best, weight);
    for (let i = 0; i < candidates.length; i++) {
      if (weight + remaining <= best) return;
      const v = candidates[i];
      expand(candidates.slice(i + 1).filter((u) => overlap(u, v)), weight + v.bytes);
      remaining -= v.bytes;
    }
  };
  expand(rest, 0);
  return base + best;
}
