/**
 * Per-block timelines (load vs compute) from run events, and the load/compute overlap figure: the share
 * of streamed loading time (loads inside passes, not the one-time setup) that ran while some block was
 * computing.
 *
 * @module
 */
import type { RunEvent } from "../runtime/core/types.ts";

/** One block operation on the timeline (ms since the run's origin). */
export interface TimelineOp {
  block: string;
  index: number;
  op: "load" | "run" | "unload";
  lane: number;
  pass: number;
  start: number;
  end: number;
}

/** The block operations of a run, in the order they finished. */
export function timelineOf(events: readonly RunEvent[]): TimelineOp[] {
  return events.flatMap((e) =>
    e.type === "block"
      ? [{ block: e.block, index: e.index, op: e.op, lane: e.lane, pass: e.pass, start: e.start, end: e.end }]
      : []
  );
}

/**
 * The span [start, end] of the setup loads (resident blocks loaded before the first run), or null.
 *
 * @example
 * ```ts
 * const span = setupSpan(timelineOf(events), plan.resident);
 * ```
 */
export function setupSpan(
  ops: readonly TimelineOp[],
  resident: readonly string[],
): { start: number; end: number } | null {
  const firstRun = Math.min(...ops.filter((o) => o.op === "run").map((o) => o.start));
  const loads = ops.filter((o) => o.op === "load" && resident.includes(o.block) && o.end <= firstRun);
  if (loads.length === 0) return null;
  return { start: Math.min(...loads.map((o) => o.start)), end: Math.max(...loads.map((o) => o.end)) };
}

function mergeIntervals(spans: { start: number; end: number }[]): { start: number; end: number }[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  const out: { start: number; end: number }[] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/**
 * Fraction (0..1) of the time spent loading non-resident blocks during which a block was computing, or
 * null when no block was loaded inside a pass (resident plans).
 *
 * @example
 * ```ts
 * loadComputeOverlap(timelineOf(events), plan.resident); // e.g. 0.8: 80% of loading hidden
 * ```
 */
export function loadComputeOverlap(ops: readonly TimelineOp[], resident: readonly string[]): number | null {
  const runs = mergeIntervals(ops.filter((o) => o.op === "run"));
  const loads = ops.filter((o) => o.op === "load" && !resident.includes(o.block));
  const total = loads.reduce((s, o) => s + (o.end - o.start), 0);
  if (loads.length === 0 || total <= 0) return null;
  let hidden = 0;
  for (const l of loads) {
    for (const r of runs) hidden += Math.max(0, Math.min(l.end, r.end) - Math.max(l.start, r.start));
  }
  return hidden / total;
}

/** Median load and run time of each block (ms), in block order: the per-block summary the UI can draw. */
export function perBlockMedians(
  ops: readonly TimelineOp[],
): { block: string; index: number; load_ms: number | null; run_ms: number | null }[] {
  const median = (v: number[]) => {
    if (v.length === 0) return null;
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const blocks = new Map<string, number>();
  for (const o of ops) blocks.set(o.block, o.index);
  return [...blocks].sort((a, b) => a[1] - b[1]).map(([block, index]) => {
    const of = (op: string) =>
      ops.filter((o) => o.block === block && o.op === op).map((o) => o.end - o.start);
    return { block, index, load_ms: median(of("load")), run_ms: median(of("run")) };
  });
}
