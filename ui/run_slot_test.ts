import assert from "node:assert/strict";
import { BusyError, RunSlot, type SlotMessage } from "./run_slot.ts";

const label = (m: SlotMessage) =>
  m.kind === "event" ? m.seq : m.kind === "warning" ? `warning ${m.message}` : m.status;
const done = { type: "done", video: "/x/video.mp4", gif: null, report: "/x/report.json" } as const;

Deno.test("RunSlot.start() refuses a second run while one is going, then accepts after it ends", async () => {
  const slot = new RunSlot();
  let release = () => {};
  const first = slot.start("r000001", async (emit) => {
    await new Promise<void>((resolve) => release = resolve);
    emit(done);
  });
  assert.throws(() => slot.start("r000002", () => Promise.resolve()), {
    name: "BusyError",
    message: 'Cannot start a generation: run "r000001" is still running (wait for it or cancel it)',
  });
  release();
  await first.finished;
  assert.equal(first.status, "done");
  const second = slot.start("r000002", (emit) => Promise.resolve(emit(done)));
  await second.finished;
  assert.equal(second.status, "done");
});

Deno.test("RunSlot.subscribe() replays earlier events and warnings, forwards later ones and ends once", async () => {
  const slot = new RunSlot();
  let release = () => {};
  const run = slot.start("r000003", async (emit, _signal, warn) => {
    emit({ type: "stage", stage: "text", status: "start", at: 0 });
    warn("prompt truncated");
    await new Promise<void>((resolve) => release = resolve);
    emit({ type: "stage", stage: "text", status: "end", at: 5 });
    emit(done);
  });
  const seen: SlotMessage[] = [];
  slot.subscribe(run.id, (m) => seen.push(m));
  assert.deepEqual(seen.map(label), [0, "warning prompt truncated"]);
  release();
  await run.finished;
  assert.deepEqual(seen.map(label), [0, "warning prompt truncated", 1, 2, "done"]);
  const late: SlotMessage[] = [];
  slot.subscribe(run.id, (m) => late.push(m));
  assert.deepEqual(late.map(label), [0, 1, 2, "warning prompt truncated", "done"]);
});

Deno.test("RunSlot.cancel() aborts the task's signal and ends the run as cancelled after onEnd", async () => {
  const slot = new RunSlot();
  const order: string[] = [];
  const run = slot.start("r000004", async (_emit, signal) => {
    await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  }, { onEnd: (r) => Promise.resolve(void order.push(`onEnd ${r.status}`)) });
  slot.subscribe(run.id, (m) => m.kind === "end" && order.push(`end ${m.status}`));
  assert.equal(slot.cancel(run.id), true);
  await run.finished;
  assert.deepEqual(order, ["onEnd cancelled", "end cancelled"]);
  assert.equal(run.message, "Run cancelled");
  assert.equal(slot.running, null);
  assert.equal(slot.cancel(run.id), false);
});

Deno.test("RunSlot marks a run that throws, or ends without a done event, as an error", async () => {
  const slot = new RunSlot();
  const thrown = slot.start("r000005", () => Promise.reject(new Error("Cannot load block: file missing")));
  await thrown.finished;
  assert.deepEqual([thrown.status, thrown.message], ["error", "Cannot load block: file missing"]);
  const silent = slot.start("r000006", () => Promise.resolve());
  await silent.finished;
  assert.deepEqual([silent.status, silent.message], [
    "error",
    "Cannot finish the run: it ended without a result",
  ]);
  assert.ok(new BusyError("r1") instanceof Error);
});

Deno.test("RunSlot keeps only the last `keep` runs", async () => {
  const slot = new RunSlot(2);
  for (const id of ["r000007", "r000008", "r000009"]) {
    await slot.start(id, (emit) => Promise.resolve(emit(done))).finished;
  }
  assert.deepEqual(["r000007", "r000008", "r000009"].map((id) => slot.get(id) !== undefined), [
    false,
    true,
    true,
  ]);
});
