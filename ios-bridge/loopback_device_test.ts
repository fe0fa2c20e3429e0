import assert from "node:assert/strict";
import { join } from "node:path";
import { loadBundle, stageOf } from "../runtime/bundle.ts";
import type { BlockRef, Executor, LoadedBlock, TensorMap } from "../runtime/types.ts";
import { tinyBundle } from "../tests/_e2e.ts";
import { FrameConnection } from "./connection.ts";
import { serveDeviceSession } from "./device_session.ts";
import { ios, IosExecutor } from "./executor.ts";
import { startLoopbackDevice } from "./loopback_device.ts";
import type { Frame, FrameHeader } from "./protocol.ts";

/** A raw protocol client: send headers, await the reply with the same id. */
async function rawClient(port: number) {
  const replies = new Map<number, (f: Frame) => void>();
  const conn = new FrameConnection(await Deno.connect({ hostname: "127.0.0.1", port }), {
    onFrame: (f) => replies.get(f.header.id)?.(f),
    onClose: () => {},
  });
  let id = 0;
  const ask = (header: Omit<FrameHeader, "id" | "tensors">, tensors: TensorMap = {}) => {
    const n = ++id;
    const p = new Promise<Frame>((resolve) => replies.set(n, resolve));
    conn.send({ ...header, id: n }, tensors);
    return p;
  };
  return { ask, close: async () => (conn.close(), await conn.done) };
}

const hello = { type: "hello", version: 1, client: "test" };

Deno.test("the loopback device refuses block files outside its bundle folder", async () => {
  const dir = await tinyBundle();
  const root = await Deno.makeTempDir({ prefix: "odsora-ios-" });
  await Deno.mkdir(join(root, "denoiser"));
  const embed = stageOf(await loadBundle(dir), "denoiser").blocks[0];
  // inside: a real block file; outside: a symlink into the real bundle, which is not this device's folder
  await Deno.copyFile(join(dir, embed.file), join(root, "denoiser", "embed.onnx"));
  await Deno.copyFile(join(dir, embed.data!), join(root, "denoiser", "embed.onnx.data"));
  await Deno.symlink(join(dir, embed.file), join(root, "denoiser", "escape.onnx"));
  const device = startLoopbackDevice({ bundleDir: root, port: 0, lanes: 1 });
  const client = await rawClient(device.port);
  try {
    assert.equal((await client.ask(hello)).header.type, "hello");
    const load = { type: "load", stage: "denoiser", name: "embed", bytes: embed.bytes, lane: 0 };
    const outside = "it is outside the device's bundle folder";
    for (
      const [block, file] of [[1, "../x.onnx"], [2, "/etc/hosts"], [3, "denoiser/escape.onnx"], [
        4,
        ".",
      ]] as const
    ) {
      const r = await client.ask({ ...load, block, file });
      assert.equal(r.header.type, "error", file);
      assert.equal(r.header.message, `Cannot resolve block file '${file}': ${outside}`);
    }
    const ok = await client.ask({ ...load, block: 5, file: "denoiser/embed.onnx" });
    assert.equal(ok.header.type, "result");
    const mem = await client.ask({ type: "memory" });
    assert.equal((mem.header.memory as { residentBytes: number }).residentBytes, embed.bytes);
  } finally {
    await client.close();
    await device.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the loopback device wants 'hello' first, checks its version, and answers bad requests by id", async () => {
  const device = startLoopbackDevice({ bundleDir: await tinyBundle(), port: 0, device: "lb" });
  const client = await rawClient(device.port);
  try {
    assert.equal((await client.ask({ type: "memory" })).header.message, "Cannot memory: say 'hello' first");
    const v2 = await client.ask({ ...hello, version: 2 });
    assert.equal(
      v2.header.message,
      "Cannot greet host 'test': it speaks protocol version '2', this device speaks '1'",
    );
    const r = await client.ask(hello);
    assert.deepEqual([r.header.device, r.header.backend, r.header.lanes, r.header.version], [
      "lb",
      "onnxruntime",
      2,
      1,
    ]);
    const bad = await client.ask({ type: "load", block: 1 });
    assert.match(String(bad.header.message), /^Cannot decode request 'load' \(id '4'\): field 'stage'/);
    const run = await client.ask({ type: "run", block: 77 });
    assert.equal(run.header.message, "Cannot run block '77': it was never loaded on this connection");
  } finally {
    await client.close();
    await device.close();
  }
});

/** An executor that records its calls; `run` waits until `release()`. */
function gatedExecutor() {
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let next = 1;
  const exec: Executor = {
    name: "gated",
    kind: "executor",
    start: (n) => Promise.resolve(void log.push(`start ${n}`)),
    load: (ref: BlockRef) =>
      Promise.resolve(void log.push(`load ${ref.name}@${ref.lane}`)).then(() => ({ ref, id: next++ })),
    run: async (b: LoadedBlock, feeds: TensorMap) => {
      log.push(`run ${b.ref.name} begins`);
      await gate;
      log.push(`run ${b.ref.name} ends`);
      return feeds;
    },
    unload: (b) => Promise.resolve(void log.push(`unload ${b.ref.name}`)),
    memory: () => Promise.resolve({ residentBytes: 0, availableBytes: 1, rssBytes: 1 }),
    close: () => Promise.resolve(void log.push("close")),
  };
  return { exec, log, release };
}

Deno.test("a device session runs each lane as a serial queue, lanes concurrently, and frees all at disconnect", async () => {
  const dir = await tinyBundle();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { exec, log, release } = gatedExecutor();
  const served = listener.accept().then((conn) =>
    serveDeviceSession(conn, { bundleDir: dir, device: "d", backend: "test", lanes: 2, executor: exec })
  );
  const client = await rawClient((listener.addr as Deno.NetAddr).port);
  const load = (block: number, name: string, lane: number) =>
    client.ask({
      type: "load",
      block,
      stage: "denoiser",
      name,
      file: `denoiser/${name}.onnx`,
      bytes: 1,
      lane,
    });
  await client.ask(hello);
  await load(1, "embed", 0);
  const x = { x: { dtype: "float32" as const, dims: [1], data: new Float32Array([4]) } };
  const running = client.ask({ type: "run", block: 1 }, x);
  const spatial = load(2, "spatial_00", 1); // lane 1: not behind the run on lane 0
  const final = load(3, "final", 2); // lane 2 maps to queue 0: behind the run
  assert.equal((await spatial).header.type, "result");
  // the load on lane 1 finished while the run on lane 0 is still going; lane 0's next load waits
  assert.deepEqual(log.slice(0, 2), ["start 2", "load embed@0"]);
  assert.ok(
    log.includes("load spatial_00@1") && !log.includes("run embed ends") && !log.includes("load final@0"),
  );
  release();
  assert.deepEqual((await running).tensors.x.data, new Float32Array([4]));
  await final;
  assert.deepEqual(log.slice(4), ["run embed ends", "load final@0"]);
  await client.close();
  await served;
  assert.deepEqual(
    log.slice(6).sort(),
    ["close", "unload embed", "unload final", "unload spatial_00"].sort(),
  );
  assert.equal(log.at(-1), "close");
  listener.close();
});

Deno.test("loopback_device.ts CLI listens, serves the ios executor, and fails with one line without --bundle", async () => {
  const dir = await tinyBundle();
  const script = join(import.meta.dirname!, "loopback_device.ts");
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--port", "0"],
    stderr: "piped",
  })
    .output();
  assert.equal(bad.code, 1);
  assert.equal(
    new TextDecoder().decode(bad.stderr).trim(),
    "Cannot start the loopback device: --bundle DIR is required",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--port", "0", "--bundle", dir, "--name", "cli"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const line = (await reader.read()).value ?? "";
  const port = Number(line.match(/listening on 127\.0\.0\.1:(\d+) /)?.[1]);
  assert.ok(port > 0, line);
  const exec = new IosExecutor(ios.options.parse({ port }));
  await exec.start(1);
  assert.equal(exec.device?.device, "cli");
  await exec.close();
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  await reader.cancel();
});
