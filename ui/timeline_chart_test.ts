import assert from "node:assert/strict";

/** A minimal element tree, enough for the chart helpers (createElementNS, setAttribute, append). */
class Node {
  attrs: Record<string, string> = {};
  children: (Node | string)[] = [];
  constructor(readonly tag: string) {}
  setAttribute(k: string, v: string) {
    this.attrs[k] = v;
  }
  append(...c: (Node | string)[]) {
    this.children.push(...c);
  }
  all(): Node[] {
    return [this, ...this.children.flatMap((c) => (typeof c === "string" ? [] : c.all()))];
  }
}
(globalThis as { document?: unknown }).document = {
  createElementNS: (_: string, tag: string) => new Node(tag),
};
const { timelineChart } = await import("./static/timeline_chart.js");

Deno.test("timelineChart shades the model calls a step cache reused, and says how many", () => {
  const block = (pass: number, block: string, op: string, start: number) => ({
    type: "block",
    stage: "denoiser",
    block,
    index: 0,
    count: 3,
    op,
    lane: 0,
    pass,
    start,
    end: start + 1,
  });
  const events = [
    block(0, "embed", "run", 0),
    block(0, "mid", "run", 1),
    block(0, "final", "run", 2),
    { type: "cache", cache: "c", step: 0, call: 0, reused: false, reason: "first" },
    block(1, "embed", "run", 3),
    block(1, "final", "run", 4),
    { type: "cache", cache: "c", step: 1, call: 1, reused: true, reason: "small change" },
  ];
  const { chart, note } = timelineChart(events, 640);
  const shaded = (chart as Node).all().filter((n) => n.tag === "rect" && n.attrs.class === "skipped");
  assert.equal(shaded.length, 2); // the band and its legend swatch
  assert.match(note, /1 model calls reused a cached residual/);
  const plain = timelineChart(events.filter((e) => e.type !== "cache"), 640);
  assert.equal((plain.chart as Node).all().filter((n) => n.attrs.class === "skipped").length, 0);
});
