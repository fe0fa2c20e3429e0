import assert from "node:assert/strict";
import { join } from "node:path";
import { loadBundle, stageOf } from "../bundle/bundle.ts";
import { ExecutorError } from "../core/errors.ts";
import { local } from "./executor_local.ts";
import { readSafetensors } from "../bundle/safetensors.ts";
import { relL2 } from "../core/tensor.ts";
import type { BlockRef, TensorMap } from "../core/types.ts";
import { toyDenoiserBundle } from "../../tests/_bundles.ts";

async function toy() {
  const dir = await toyDenoiserBundle();
  const bundle = await loadBundle(dir);
  const expected = await readSafetensors(join(dir, "expected.safetensors"));
  const env: TensorMap = {};
  for (const [k, v] of Object.entries(expected)) {
    if (k.startsWith("call0.") && k !== "call0.out") env[k.slice(6)] = v;
  }
  const refs: BlockRef[] = stageOf(bundle, "denoiser").blocks.map((b, i) => ({
    stage: "denoiser",
    name: b.name,
    path: join(dir, b.file),
    bytes: b.bytes,
    lane: i % 2,
  }));
  return { bundle, expected, env, refs };
}

Deno.test("local executor runs a real 4-block chain on two lanes and matches torch", async () => {
  const { bundle, expected, env, refs } = await toy();
  const exec = local.create({ threads: 1, arena: false, trim: true });
  await exec.start(2);
  try {
    const loaded = await Promise.all(refs.map((r) => exec.load(r)));
    const mem = await exec.memory();
    assert.equal(mem.residentBytes, refs.reduce((s, r) => s + r.bytes, 0));
    assert.ok(mem.rssBytes > 0 && mem.availableBytes > 0);
    const blocks = stageOf(bundle, "denoiser").blocks;
    const state = { ...env };
    for (const [i, block] of blocks.entries()) {
      const feeds = Object.fromEntries(block.inputs.map((io) => [io.name, state[io.name]]));
      const out = await exec.run(loaded[i], feeds);
      for (const io of block.outputs) state[io.name] = out[io.onnx_name ?? io.name];
    }
    assert.deepEqual(state.out.dims, expected["call0.out"].dims);
    assert.ok(relL2(state.out, expected["call0.out"]) < 1e-6);
    // the inputs were copied out, never detached
    assert.equal(env.x.data.length, expected["call0.x"].data.length);
    for (const b of loaded) await exec.unload(b);
    assert.equal((await exec.memory()).residentBytes, 0);
  } finally {
    await exec.close();
  }
});

Deno.test("local executor turns a truncated ONNX file into an ExecutorError and keeps the lane usable", async () => {
  const { refs, env } = await toy();
  const dir = await Deno.makeTempDir();
  const exec = local.create({ threads: 1, arena: false, trim: false });
  try {
    const bytes = await Deno.readFile(refs[0].path);
    const broken = join(dir, "embed.onnx");
    await Deno.writeFile(broken, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await exec.start(1);
    await assert.rejects(
      exec.load({ ...refs[0], path: broken, lane: 0 }),
      (e) =>
        e instanceof ExecutorError && e.backend === "local" && e.block === "denoiser/embed" &&
        e.message.startsWith(`Cannot load block 'denoiser/embed' from '${broken}'`),
    );
    const good = await exec.load({ ...refs[0], lane: 0 });
    await assert.rejects(
      exec.run(good, { x: env.x }),
      (e) => e instanceof ExecutorError && /Cannot run block 'denoiser\/embed'/.test(e.message),
    );
    const out = await exec.run(good, env);
    assert.deepEqual(out.h.dims, [4, 3, 3, 3, 16]);
  } finally {
    await exec.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local executor refuses work before start() and for unloaded blocks", async () => {
  const { refs } = await toy();
  const exec = local.create({ threads: 1, arena: false, trim: false });
  await assert.rejects(exec.load(refs[0]), /not started/);
  await exec.start(1);
  const b = await exec.load({ ...refs[0], lane: 0 });
  await exec.unload(b);
  await assert.rejects(exec.run(b, {}), /Cannot run block 'denoiser\/embed': it is not loaded/);
  await exec.close();
});

Deno.test("local executor without graph optimization or pre-packing computes the same block output", async () => {
  const { refs, env } = await toy();
  const outs = [];
  for (const [optimization, prepack] of [["all", true], ["disabled", false]] as const) {
    const exec = local.create({ threads: 1, arena: false, trim: false, optimization, prepack });
    await exec.start(1);
    const b = await exec.load({ ...refs[0], lane: 0 });
    outs.push((await exec.run(b, env)).h);
    await exec.close();
  }
  assert.ok(relL2(outs[1], outs[0]) < 1e-6);
});

/** Bytes of `path`'s mappings in this process that are resident (from /proc/self/smaps), and mapped. */
function mappedResident(path: string): { mapped: number; resident: number } {
  let mapped = 0, resident = 0, inside = false;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inside = line.endsWith(` ${path}`);
    else if (inside && line.startsWith("Size:")) mapped += Number(line.split(/\s+/)[1]) * 1024;
    else if (inside && line.startsWith("Rss:")) resident += Number(line.split(/\s+/)[1]) * 1024;
  }
  return { mapped, resident };
}

Deno.test("local executor loads a streamed block unpacked, its mapped weights faulted in by the loading lane", async () => {
  if (Deno.build.os !== "linux") return;
  const dir = join(new URL("../..", import.meta.url).pathname, "models", "default");
  const bundle = await loadBundle(dir);
  const spec = stageOf(bundle, "denoiser").blocks[1];
  const ref: BlockRef = {
    stage: "denoiser",
    name: spec.name,
    path: join(dir, spec.file),
    bytes: spec.bytes,
    lane: 0,
  };
  const data = join(dir, spec.data!);
  const exec = local.create(local.options.parse({ threads: 1 }));
  await exec.start(1);
  try {
    const streamed = await exec.load({ ...ref, transient: true });
    const m = mappedResident(await Deno.realPath(data));
    assert.ok(m.mapped > 0.9 * (await Deno.stat(data)).size, `weights stay mapped (${m.mapped} B)`);
    assert.ok(
      m.resident >= 0.99 * m.mapped,
      `and are resident before any run (${m.resident} of ${m.mapped} B)`,
    );
    await exec.unload(streamed);
    assert.equal(mappedResident(await Deno.realPath(data)).mapped, 0, "unloading unmaps them");
  } finally {
    await exec.close();
  }
});

Deno.test("a lean local executor runs its first lane in this thread, further lanes in workers, with the same outputs bit for bit", async () => {
  const { bundle, env, refs } = await toy();
  const blocks = stageOf(bundle, "denoiser").blocks;
  const outs: TensorMap[] = [];
  for (const lean of [false, true]) {
    const exec = local.create(local.options.parse({ threads: 1, prepack: false, lean }));
    await exec.start(2);
    try {
      assert.deepEqual(exec.laneKinds, lean ? ["inline", "worker"] : ["worker", "worker"]);
      const state = { ...env };
      for (const [i, block] of blocks.entries()) {
        // streamed and budgeted, as a tight plan loads them: the lean unload also shrinks the young generation
        const loaded = await exec.load({ ...refs[i], transient: true, budgeted: true });
        const feeds = Object.fromEntries(block.inputs.map((io) => [io.name, state[io.name]]));
        const out = await exec.run(loaded, feeds);
        for (const io of block.outputs) state[io.name] = out[io.onnx_name ?? io.name];
        await exec.unload(loaded);
      }
      outs.push(state);
      assert.equal((await exec.memory()).residentBytes, 0);
    } finally {
      await exec.close();
    }
  }
  assert.deepEqual(outs[1].out.dims, outs[0].out.dims);
  assert.deepEqual(outs[1].out.data, outs[0].out.data);
  // the caller's tensors were copied for the inline lane too, never detached
  assert.ok(env.x.data.length > 0);
});

Deno.test("a lean local executor's inline lane reports onnxruntime's errors as ExecutorErrors", async () => {
  const { refs } = await toy();
  const exec = local.create(local.options.parse({ threads: 1, lean: true }));
  await exec.start(1);
  try {
    assert.deepEqual(exec.laneKinds, ["inline"]);
    await assert.rejects(
      exec.load({ ...refs[0], path: "/nonexistent/embed.onnx", lane: 0 }),
      (e) =>
        e instanceof ExecutorError &&
        /^Cannot load block 'denoiser\/embed' from '\/nonexistent/.test(e.message),
    );
    const b = await exec.load({ ...refs[0], lane: 0 });
    await assert.rejects(
      exec.run(b, {}),
      (e) => e instanceof ExecutorError && /Cannot run block 'denoiser\/embed'/.test(e.message),
    );
  } finally {
    await exec.close();
  }
});
