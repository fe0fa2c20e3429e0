import assert from "node:assert/strict";
import { runEvents } from "./run_context.ts";
import type { RunEvent } from "./types.ts";

Deno.test("runEvents() gives each observer only its types and says which types anyone wants", () => {
  const steps: RunEvent[] = [];
  const all: RunEvent[] = [];
  const events = runEvents([{ types: ["step"], on: (e) => steps.push(e) }, { on: (e) => all.push(e) }]);
  const step: RunEvent = { type: "step", step: 0, total: 1, t: 1000, calls: 1, etaMs: 0 };
  const stage: RunEvent = { type: "stage", stage: "text", status: "start", at: 0 };
  events.emit(step);
  events.emit(stage);
  assert.deepEqual(steps, [step]);
  assert.deepEqual(all, [step, stage]);
  assert.ok(events.wants("preview"), "a catch-all observer wants previews");
  const terminal = runEvents([{ types: ["stage", "step", "block"], on: () => {} }]);
  assert.ok(terminal.wants("step") && !terminal.wants("preview"), "the progress bar wants no preview");
  assert.ok(!runEvents([]).wants("step"));
});
