// The run's time pictures: load vs compute per block on each lane (cf. the paper's Fig. 14) and the wall
// time of each stage. Pure functions from run events to SVG elements.
import { formatMs, MARGIN, scale, svg, ticks, tip } from "./svg.js";

const { left: LEFT, right: RIGHT } = MARGIN;
const STAGE_COLORS = { text: "#8e6bd8", denoiser: "#2f6fde", vae: "#1f9d63" };

/** The latest time any event mentions, in ms since the run started. */
export function lastTime(events) {
  let end = 0;
  for (const e of events) {
    if (e.type === "block") end = Math.max(end, e.end);
    else if (e.type === "stage" || e.type === "memory") end = Math.max(end, e.at);
  }
  return end;
}

/** Stage intervals [{ stage, start, end, stopped }] in ms since the run started; a stage the run left
 * (error, cancel) ends at the last time an event mentions and is marked `stopped`. */
export function stageIntervals(events) {
  const open = new Map();
  const out = [];
  for (const event of events) {
    if (event.type !== "stage") continue;
    if (event.status === "start") open.set(event.stage, event.at);
    else if (open.has(event.stage)) {
      out.push({ stage: event.stage, start: open.get(event.stage), end: event.at, stopped: false });
      open.delete(event.stage);
    }
  }
  for (const [stage, start] of open) out.push({ stage, start, end: lastTime(events), stopped: true });
  return out;
}

/** Total length of the union of [start, end] intervals, and of their overlap with another union. */
function union(intervals) {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const [s, e] of sorted) {
    const last = merged.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else merged.push([s, e]);
  }
  return merged;
}

function overlap(a, b) {
  let total = 0;
  for (const [s1, e1] of a) {
    for (const [s2, e2] of b) total += Math.max(0, Math.min(e1, e2) - Math.max(s1, s2));
  }
  return total;
}

function timeAxis(x, lo, hi, y0, y1) {
  return ticks(lo, hi, 6).map((v) => [
    svg("line", { x1: x(v), x2: x(v), y1: y0, y2: y1, class: "grid" }),
    svg("text", { x: x(v), y: y1 + 13, "text-anchor": "middle" }, formatMs(v)),
  ]);
}

/** Load vs compute per block over time, one load row and one compute row per lane (cf. the paper's Fig. 14). */
export function timelineChart(events, W = 640) {
  const blocks = events.filter((e) => e.type === "block");
  const stages = stageIntervals(events);
  const end = Math.max(1, ...blocks.map((b) => b.end), ...stages.map((s) => s.end));
  const lanes = [...new Set(blocks.map((b) => b.lane))].sort((a, b) => a - b);
  const rows = lanes.flatMap((lane) => [{ lane, kind: "load" }, { lane, kind: "run" }]);
  const rowH = 18;
  const top = 22;
  const height = top + rows.length * rowH + 44;
  const x = scale(0, end, LEFT, W - RIGHT);
  // model calls a step cache reused (only the first and last blocks ran): shaded across the lanes
  const reusedCalls = new Set(events.filter((e) => e.type === "cache" && e.reused).map((e) => e.call));
  const skipped = [...reusedCalls].flatMap((call) => {
    const ops = blocks.filter((b) => b.stage === "denoiser" && b.pass === call && b.op !== "unload");
    if (ops.length === 0) return [];
    const start = Math.min(...ops.map((b) => b.start));
    const stop = Math.max(...ops.map((b) => b.end));
    return [
      svg(
        "rect",
        {
          x: x(start),
          y: top,
          width: Math.max(1.5, x(stop) - x(start)),
          height: rows.length * rowH,
          class: "skipped",
        },
        tip(`model call ${call}: reused the cached residual (middle blocks neither loaded nor run)`),
      ),
    ];
  });
  const kinds = [["load", "load weights"], ["run", "compute"], ["unload", "unload"]];
  if (skipped.length > 0) kinds.push(["skipped", "reused step"]);
  const legend = kinds.map(([kind, text], i) =>
    svg(
      "g",
      { transform: `translate(${LEFT + i * 110},${height - 12})` },
      svg("rect", { width: 12, height: 10, y: -9, class: kind }),
      svg("text", { x: 17 }, text),
    )
  );
  const rowY = (lane, kind) => top + rows.findIndex((r) => r.lane === lane && r.kind === kind) * rowH;
  const bars = blocks.map((b) => {
    const kind = b.op === "run" ? "run" : "load";
    const width = Math.max(0.6, x(b.end) - x(b.start));
    return svg(
      "rect",
      { x: x(b.start), y: rowY(b.lane, kind) + 3, width, height: rowH - 6, class: b.op },
      tip(
        `${b.stage}/${b.block} ${b.op} (pass ${b.pass}, block ${b.index + 1}/${b.count}): ${
          formatMs(b.end - b.start)
        }`,
      ),
    );
  });
  const bands = stages.map((s) =>
    svg(
      "g",
      {},
      svg("rect", {
        x: x(s.start),
        y: 4,
        width: Math.max(1, x(s.end) - x(s.start)),
        height: 12,
        fill: STAGE_COLORS[s.stage],
        opacity: 0.8,
      }),
      x(s.end) - x(s.start) > 44
        ? svg("text", { x: x(s.start) + 4, y: 14, style: "fill:#fff;font-weight:600" }, s.stage)
        : null,
      tip(`${s.stage}: ${formatMs(s.end - s.start)}`),
    )
  );
  const labels = rows.map((r) =>
    svg(
      "text",
      { x: LEFT - 6, y: rowY(r.lane, r.kind) + rowH / 2 + 4, "text-anchor": "end" },
      `lane ${r.lane} ${r.kind === "run" ? "compute" : "load"}`,
    )
  );
  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${W} ${height}`,
      role: "img",
      "aria-label": "load and compute timeline",
      "data-chart": "timeline",
    },
    timeAxis(x, 0, end, top, top + rows.length * rowH),
    svg("text", { x: LEFT - 6, y: 14, "text-anchor": "end" }, "stage"),
    bands,
    labels,
    skipped,
    bars,
    legend,
  );
  const loads = union(blocks.filter((b) => b.op === "load").map((b) => [b.start, b.end]));
  const runs = union(blocks.filter((b) => b.op === "run").map((b) => [b.start, b.end]));
  const loadMs = loads.reduce((t, [s, e]) => t + e - s, 0);
  const runMs = runs.reduce((t, [s, e]) => t + e - s, 0);
  const hidden = loadMs > 0 ? Math.round((100 * overlap(loads, runs)) / loadMs) : 0;
  const note = `loading ${formatMs(loadMs)} · compute ${formatMs(runMs)} · wall ${formatMs(end)}` +
    ` · ${hidden}% of loading overlapped compute · ${blocks.length} block operations` +
    (reusedCalls.size > 0 ? ` · ${reusedCalls.size} model calls reused a cached residual (shaded)` : "");
  return { chart, note };
}

/** One bar per stage: its wall time. */
export function stageChart(events, W = 640) {
  const stages = stageIntervals(events);
  if (stages.length === 0) return null;
  const rowH = 24;
  const height = stages.length * rowH + 10;
  const longest = Math.max(...stages.map((s) => s.end - s.start), 1);
  const x = scale(0, longest, LEFT, W - 130);
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": "time per stage", "data-chart": "stages" },
    stages.map((s, i) => [
      svg("text", { x: LEFT - 6, y: 5 + i * rowH + 15, "text-anchor": "end" }, s.stage),
      svg("rect", {
        x: LEFT,
        y: 5 + i * rowH + 3,
        width: Math.max(1, x(s.end - s.start) - LEFT),
        height: rowH - 8,
        fill: STAGE_COLORS[s.stage],
        rx: 3,
      }),
      svg(
        "text",
        { x: x(s.end - s.start) + 6, y: 5 + i * rowH + 15 },
        `${formatMs(s.end - s.start)}${s.stopped ? " (stopped)" : ""}`,
      ),
    ]),
  );
}
