// Line charts of a run: memory (RSS, resident blocks) against the budget, and the values the plugins'
// decisions report per step, with their one-off decisions marked. Pure functions from run events to SVG.
import { formatBytes, formatMs, MARGIN, scale, svg, ticks, tip } from "./svg.js";
import { lastTime } from "./timeline_chart.js";

const { left: LEFT, right: RIGHT } = MARGIN;

/** Line chart helper: series [{ name, points: [[x, y]], className, dashed }]. */
function lineChart({ W, series, xLabel, yFormat, xFormat, markers = [], yMin, yMax, yTickUnit, label }) {
  const height = 200;
  const top = 24;
  const bottom = height - 36;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs, ...markers.map((m) => m.x));
  const x1 = Math.max(...xs, ...markers.map((m) => m.x));
  const lo = yMin ?? Math.min(...ys);
  const hi = yMax ?? Math.max(...ys);
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.01 || 1;
  const x = scale(x0, x1 === x0 ? x0 + 1 : x1, LEFT, W - RIGHT);
  // y ticks in round units (MiB, GiB); a chart that starts at zero ends at the tick above its maximum
  const yUnit = yTickUnit ?? 1;
  let yTicks = ticks(lo / yUnit, (hi + pad) / yUnit, 4).map((v) => v * yUnit);
  const tickStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 0;
  if (yMin !== undefined && tickStep > 0 && yTicks.at(-1) < hi) yTicks.push(yTicks.at(-1) + tickStep);
  const yTop = yMin !== undefined && tickStep > 0 ? Math.max(yTicks.at(-1), hi) : hi + pad;
  const y = scale(lo - (yMin === undefined ? pad : 0), yTop, bottom, top);
  yTicks = yTicks.filter((v) => y(v) >= top - 1 && y(v) <= bottom + 1);
  const grid = [
    ...yTicks.map((v) => [
      svg("line", { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end" }, yFormat(v)),
    ]),
    ...ticks(x0, x1, 6).map((v) =>
      svg("text", { x: x(v), y: bottom + 14, "text-anchor": "middle" }, xFormat(v))
    ),
    svg("line", { x1: LEFT, x2: W - RIGHT, y1: bottom, y2: bottom, class: "axis" }),
    svg("text", { x: (LEFT + W - RIGHT) / 2, y: bottom + 30, "text-anchor": "middle" }, xLabel),
  ];
  const lines = series.map((s) =>
    svg(
      "g",
      {},
      svg("polyline", {
        points: s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(" "),
        fill: "none",
        stroke: s.color,
        "stroke-width": 2,
        "stroke-dasharray": s.dashed ? "6 4" : null,
      }),
      s.dots
        ? s.points.map(([px, py]) =>
          svg(
            "circle",
            { cx: x(px), cy: y(py), r: 2.6, fill: s.color },
            tip(`${xFormat(px)}: ${yFormat(py)}`),
          )
        )
        : null,
    )
  );
  const marks = markers.map((m) => [
    svg("line", {
      x1: x(m.x),
      x2: x(m.x),
      y1: top,
      y2: bottom,
      stroke: "#d33f49",
      "stroke-dasharray": "3 3",
    }),
    x(m.x) > (LEFT + W) / 2
      ? svg("text", {
        x: x(m.x) - 4,
        y: top + 12,
        "text-anchor": "end",
        style: "fill:#d33f49;font-weight:600",
      }, m.label)
      : svg("text", { x: x(m.x) + 4, y: top + 12, style: "fill:#d33f49;font-weight:600" }, m.label),
  ]);
  const legend = series.map((s, i) =>
    svg(
      "g",
      { transform: `translate(${LEFT + i * 130},4)` },
      svg("rect", { width: 14, height: 3, y: 4, fill: s.color }),
      svg("text", { x: 18, y: 9 }, s.name),
    )
  );
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label, "data-chart": label },
    grid,
    lines,
    marks,
    legend,
  );
}

/** RSS and resident weights over time against the budget. */
export function memoryChart(events, W = 640) {
  const memory = events.filter((e) => e.type === "memory");
  if (memory.length === 0) return null;
  // a sample holds until the next one (the runtime measures after each block operation), then to the end
  const end = lastTime(events);
  const held = (points) => points.flatMap(([t, v], i) => [[t, v], [points[i + 1]?.[0] ?? end, v]]);
  const series = [
    { name: "process RSS", color: "#2f6fde", points: held(memory.map((m) => [m.at, m.rssBytes])) },
    { name: "resident blocks", color: "#e3a21a", points: held(memory.map((m) => [m.at, m.residentBytes])) },
  ];
  const budget = memory.filter((m) => m.budgetBytes !== null).map((m) => [m.at, m.budgetBytes]);
  if (budget.length > 0) {
    series.push({ name: "budget", color: "#d33f49", dashed: true, points: held(budget) });
  }
  const top = Math.max(...series.flatMap((line) => line.points.map((p) => p[1])));
  return lineChart({
    W,
    series,
    xLabel: "time since start",
    yFormat: (v) => formatBytes(v).replace(/\.0+ /, " "),
    xFormat: formatMs,
    yMin: 0,
    yTickUnit: top >= 2 ** 30 ? 2 ** 30 : 2 ** 20,
    label: "memory",
  });
}

/**
 * A chart of the plugins' decision events, whatever the plugin: one curve per numeric value a decision
 * reports at two steps or more with a fractional value (a measured quantity, not a counter), and a marker
 * for each decision that reports none of them (a one-off such as a leap), labelled with its message.
 */
export function decisionChart(events, W = 640) {
  const decisions = events.filter((e) => e.type === "decision");
  const steps = new Map();
  for (const d of decisions) {
    for (const [key, value] of Object.entries(d.data ?? {})) {
      if (typeof value !== "number") continue;
      const entry = steps.get(key) ?? { steps: new Set(), fractional: false };
      entry.steps.add(d.step);
      entry.fractional ||= !Number.isInteger(value);
      steps.set(key, entry);
    }
  }
  const keys = [...steps].filter(([, e]) => e.steps.size >= 2 && e.fractional).map(([key]) => key);
  const series = keys.map((key, i) => ({
    name: key,
    color: ["#2f6fde", "#1f9d63", "#8e6bd8", "#d33f49"][i % 4],
    dots: true,
    points: decisions.filter((d) => typeof d.data?.[key] === "number").map((d) => [d.step, d.data[key]]),
  }));
  if (series.length === 0) return null;
  const markers = decisions.filter((d) => !keys.some((k) => typeof d.data?.[k] === "number"))
    .map((d) => ({ x: d.step, label: d.message }));
  const format = (v) => v.toFixed(Math.abs(v) > 0.999 ? 5 : 3);
  return lineChart({
    W,
    series,
    markers,
    xLabel: "step",
    yFormat: format,
    xFormat: (v) => String(v),
    label: "decisions",
  });
}
