/**
 * The plan shape shared by the concurrent and CI-DL schedulers: the first `resident` blocks are loaded
 * once (setup, lane 0) and kept across passes; the others stream through `prefetch + 1` rotating lanes,
 * each loading its next block as soon as it has unloaded its previous one, so that while block i runs,
 * blocks i+1..i+prefetch load on the other lanes. `prefetch: 0` is sequential streaming on one lane.
 *
 * @module
 */
import type { BlockInfo, PlanOp, StageInfo } from "../runtime/core/types.ts";

/** The sections of a streaming plan and its lane count. */
export interface StreamingPlan {
  lanes: number;
  resident: string[];
  setup: PlanOp[];
  pass: PlanOp[];
  teardown: PlanOp[];
}

/**
 * Build the plan that keeps blocks 0..resident−1 loaded (and the last block too with `residentLast`: a
 * step cache's reused call runs only the first and last blocks, so it then loads nothing) and streams the
 * rest with `prefetch` blocks loading ahead of the running one.
 *
 * @example
 * ```ts
 * const plan = streamingPlan(stage, { resident: 2, prefetch: 1 });
 * plan.pass.filter((op) => op.op === "run").length; // every block runs once per pass
 * ```
 */
export function streamingPlan(
  stage: StageInfo,
  options: { resident: number; prefetch: number; residentLast?: boolean },
): StreamingPlan {
  const blocks: readonly BlockInfo[] = stage.blocks;
  const k = Math.min(options.resident, blocks.length);
  const last = options.residentLast === true && k < blocks.length ? blocks.length - 1 : null;
  const end = last ?? blocks.length; // streamed blocks are k..end−1
  const ring = options.prefetch + 1;
  const streamed = end - k;
  const laneOf = (i: number) => (i < k || i === last || ring === 1 ? 0 : (i - k + 1) % ring);
  const lanes = streamed === 0 ? 1 : ring;
  const op = (kind: PlanOp["op"], i: number): PlanOp => ({
    op: kind,
    block: blocks[i].name,
    lane: laneOf(i),
  });
  const kept = [...Array(k).keys(), ...(last === null ? [] : [last])];

  const setup = kept.map((i) => op("load", i));
  const teardown = kept.map((i) => op("unload", i));
  const pass: PlanOp[] = [];
  const window = Array.from({ length: Math.min(ring, streamed) }, (_, j) => k + j);
  // Lanes other than 0 are idle while resident blocks run: start their first loads right away. Lane 0's
  // first streamed load queues after the resident runs (lane order), so list it after them.
  for (const i of window) if (laneOf(i) !== 0) pass.push(op("load", i));
  for (let i = 0; i < k; i++) pass.push(op("run", i));
  for (const i of window) if (laneOf(i) === 0) pass.push(op("load", i));
  for (let i = k; i < end; i++) {
    pass.push(op("run", i), op("unload", i));
    if (i + ring < end) pass.push(op("load", i + ring));
  }
  if (last !== null) pass.push(op("run", last));
  return { lanes, resident: kept.map((i) => blocks[i].name), setup, pass, teardown };
}
