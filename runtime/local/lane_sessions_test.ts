import assert from "node:assert/strict";
import { join } from "node:path";
import { loadBundle, stageOf } from "../bundle/bundle.ts";
import { readSafetensors } from "../bundle/safetensors.ts";
import { relL2 } from "../core/tensor.ts";
import type { TensorMap } from "../core/types.ts";
import { fromWire, type LaneSessionOptions, toWire } from "./_lane_protocol.ts";
import { LaneSessions } from "./lane_sessions.ts";
import { toyDenoiserBundle } from "../../tests/_bundles.ts";

const OPTIONS: LaneSessionOptions = {
  threads: 1,
  arena: false,
  trim: true,
  optimization: "all",
  prepack: false,
  populate: true,
};

Deno.test("LaneSessions answers a lane's calls in this thread: the toy chain matches torch", async () => {
  const dir = await toyDenoiserBundle();
  const blocks = stageOf(await loadBundle(dir), "denoiser").blocks;
  const expected = await readSafetensors(join(dir, "expected.safetensors"));
  const state: TensorMap = {};
  for (const [k, v] of Object.entries(expected)) if (k.startsWith("call0.")) state[k.slice(6)] = v;
  const lane = new LaneSessions();
  assert.deepEqual((await lane.answer({ op: "ready" })).reply, { ok: true });
  let last = 0;
  for (const block of blocks) {
    const loaded = (await lane.answer({ op: "load", path: join(dir, block.file), options: OPTIONS })).reply;
    assert.ok(loaded.ok && loaded.session !== undefined);
    assert.deepEqual(loaded.inputs?.toSorted(), block.inputs.map((io) => io.name).toSorted());
    const feeds = Object.fromEntries(block.inputs.map((io) => [io.name, toWire(state[io.name])]));
    const ran = await lane.answer({ op: "run", session: loaded.session!, feeds });
    assert.ok(ran.reply.ok && ran.reply.outputs);
    // the outputs' buffers are handed over; the inputs' were freed at once
    assert.deepEqual(ran.transfer, Object.values(ran.reply.outputs!).map((o) => o.buffer));
    assert.ok(Object.values(feeds).every((w) => w.buffer.detached));
    for (const io of block.outputs) state[io.name] = fromWire(ran.reply.outputs![io.onnx_name ?? io.name]);
    const unloaded = await lane.answer({
      op: "unload",
      session: loaded.session!,
      trim: true,
      collect: "reduce",
    });
    assert.deepEqual(unloaded.reply, { ok: true });
    last = loaded.session!;
  }
  assert.ok(relL2(state.out, expected["call0.out"]) < 1e-6);
  await assert.rejects(lane.answer({ op: "run", session: last, feeds: {} }), /is not loaded/);
  assert.deepEqual((await lane.answer({ op: "close" })).reply, { ok: true });
});
