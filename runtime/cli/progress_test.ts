import assert from "node:assert/strict";
import { createProgress, foldProgress, formatDuration, initialProgress, renderProgress } from "./progress.ts";
import type { RunEvent } from "../core/types.ts";

const block = (index: number, op: "load" | "run" | "unload"): RunEvent => ({
  type: "block",
  stage: "denoiser",
  block: `b${index}`,
  index,
  count: 4,
  op,
  lane: 0,
  pass: 0,
  start: 0,
  end: 1,
});

Deno.test("renderProgress() shows stage, step bar, block and ETA", () => {
  let s = initialProgress();
  assert.equal(renderProgress(s, 80), "");
  s = foldProgress(s, { type: "stage", stage: "denoiser", status: "start", at: 0 });
  s = foldProgress(s, block(1, "load"));
  assert.equal(s.block, null, "loads do not move the block counter");
  s = foldProgress(s, block(1, "run"));
  s = foldProgress(s, { type: "step", step: 4, total: 10, t: 500, calls: 5, etaMs: 65_000 });
  assert.equal(renderProgress(s, 80), "denoiser step 5/10 [##########----------] block 2/4 b1 ETA 1:05");
  assert.equal(renderProgress(s, 20), "denoiser step 5/10…");
  s = foldProgress(s, { type: "stage", stage: "vae", status: "start", at: 0 });
  assert.equal(renderProgress(s, 80), "vae");
  assert.equal(formatDuration(3_725_000), "1:02:05");
});

Deno.test("createProgress() redraws one line on a TTY and prints only steps otherwise", () => {
  const tty: string[] = [];
  const bar = createProgress({ write: (t) => tty.push(t), tty: true, columns: 80 });
  bar.emit({ type: "stage", stage: "text", status: "start", at: 0 });
  bar.emit({ type: "step", step: 0, total: 2, t: 1000, calls: 1, etaMs: 1000 });
  bar.clear();
  bar.end();
  assert.ok(tty.length >= 2 && tty.every((t) => t.startsWith("\r\x1b[2K")), JSON.stringify(tty));
  assert.ok(!tty.join("").includes("\n"));

  const log: string[] = [];
  const plain = createProgress({ write: (t) => log.push(t), tty: false });
  plain.emit({ type: "stage", stage: "denoiser", status: "start", at: 0 });
  plain.emit(block(0, "run"));
  plain.emit({ type: "step", step: 0, total: 2, t: 1000, calls: 1, etaMs: 1500 });
  plain.emit({ type: "step", step: 1, total: 2, t: 500, calls: 2, etaMs: 0 });
  plain.end();
  assert.deepEqual(log, ["step 1/2 t=1000.0 ETA 0:02\n", "step 2/2 t=500.0\n"]);
});
