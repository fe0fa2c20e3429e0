import assert from "node:assert/strict";
import { join } from "node:path";
import { loadBundle, stageOf } from "../runtime/bundle/bundle.ts";
import type { BlockRef, Executor, LoadedBlock, TensorMap } from "../runtime/core/types.ts";
import { tinyBundle } from "../tests/_e2e.ts";
import { type PairedDevice, pairedLoopback } from "./_paired.ts";
import { FrameConnection } from "./connection.ts";
import { DeviceLink } from "./device_link.ts";
import { serveDeviceSession } from "./device_session.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "./device_trust.ts";
import { ios, IosExecutor } from "./executor.ts";
import { KeyStore } from "./keys.ts";
import type { Frame, FrameHeader } from "./protocol.ts";

/** A raw client that speaks frames without authenticating: send headers, await the reply with the same id. */
async function rawClient(port: number) {
  const replies = new Map<number, (f: Frame) => void>();
  let closed!: () => void;
  const gone = new Promise<void>((r) => (closed = r));
  const conn = new FrameConnection(await Deno.connect({ hostname: "127.0.0.1", port }), {
    onFrame: (f) => replies.get(f.header.id)?.(f),
    onClose: () => closed(),
  });
  let id = 0;
  const ask = (header: Omit<FrameHeader, "id" | "tensors">, tensors: TensorMap = {}) => {
    const n = ++id;
    const p = new Promise<Frame>((resolve) => replies.set(n, resolve));
    conn.send({ ...header, id: n }, tensors);
    return p;
  };
  return { ask, gone, close: async () => (conn.close(), await conn.done) };
}

/** An authenticated link to the device, as the ios executor opens it. */
async function link(paired: PairedDevice) {
  return await DeviceLink.open(paired.device.hostname, paired.device.port, {
    timeoutMs: 30_000,
    keys: paired.hostKeys,
  });
}

Deno.test("the loopback device refuses block files outside its bundle folder", async () => {
  const dir = await tinyBundle();
  const root = await Deno.makeTempDir({ prefix: "odsora-ios-" });
  await Deno.mkdir(join(root, "denoiser"));
  const embed = stageOf(await loadBundle(dir), "denoiser").blocks[0];
  // inside: a real block file; outside: a symlink into the real bundle, which is not this device's folder
  await Deno.copyFile(join(dir, embed.file), join(root, "denoiser", "embed.onnx"));
  await Deno.copyFile(join(dir, embed.data!), join(root, "denoiser", "embed.onnx.data"));
  await Deno.symlink(join(dir, embed.file), join(root, "denoiser", "escape.onnx"));
  const paired = await pairedLoopback({ bundleDir: root, lanes: 1 });
  const client = await link(paired);
  try {
    const load = { type: "load", stage: "denoiser", name: "embed", bytes: embed.bytes, lane: 0 };
    const outside = "it is outside the device's bundle folder";
    for (
      const [block, file] of [[1, "../x.onnx"], [2, "/etc/hosts"], [3, "denoiser/escape.onnx"], [
        4,
        ".",
      ]] as const
    ) {
      await assert.rejects(
        client.request({ ...load, block, file }, {}, "load", null),
        (e) =>
          e instanceof Error && e.message === `Cannot load: Cannot resolve block file '${file}': ${outside}`,
      );
    }
    await client.request({ ...load, block: 5, file: "denoiser/embed.onnx" }, {}, "load", null);
    const mem = await client.request({ type: "memory" }, {}, "memory", null);
    assert.equal(mem.reply.memory?.residentBytes, embed.bytes);
  } finally {
    await client.drainAndClose();
    await paired.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the loopback device refuses unauthenticated requests and other versions, and answers bad requests by id", async () => {
  const paired = await pairedLoopback({ bundleDir: await tinyBundle(), device: "lb" });
  try {
    const raw = await rawClient(paired.device.port);
    const refused = await raw.ask({ type: "memory" });
    assert.equal(
      refused.header.message,
      "Cannot memory: this connection is not authenticated (expected 'hello' or 'pair')",
    );
    await raw.gone; // and the device closed the connection
    const old = await rawClient(paired.device.port);
    const v1 = await old.ask({ type: "hello", version: 1, client: "test", hostId: "h", nonce: "" });
    assert.equal(
      v1.header.message,
      "Cannot greet host 'test': it speaks protocol version '1', this device speaks '2'",
    );
    await old.gone;
    const client = await link(paired);
    assert.deepEqual(
      [client.info.device, client.info.backend, client.info.lanes, client.info.maxFrameBytes],
      ["lb", "onnxruntime", 2, DEFAULT_MAX_FRAME_BYTES],
    );
    await assert.rejects(
      client.request({ type: "load", block: 1 }, {}, "load", null),
      /^ExecutorError: Cannot load: Cannot decode request 'load' \(id '\d+'\): field 'stage'/,
    );
    await assert.rejects(
      client.request({ type: "run", block: 77 }, {}, "run", null),
      /Cannot run block '77': it was never loaded on this connection/,
    );
    await client.drainAndClose();
    assert.ok(paired.log.some((l) => l.includes("this connection is not authenticated")));
  } finally {
    await paired.close();
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
  // the two key stores as a pairing leaves them (pair_test.ts covers the exchange itself)
  const deviceKeys = KeyStore.memory("device");
  const hostKeys = KeyStore.memory("host");
  const key = crypto.getRandomValues(new Uint8Array(32));
  await deviceKeys.set(hostKeys.id, "test", key);
  await hostKeys.set(deviceKeys.id, "d", key);
  const trust = { keys: deviceKeys, pairing: null, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, busy: false };
  const served = listener.accept().then((conn) =>
    serveDeviceSession(conn, {
      bundleDir: dir,
      device: "d",
      backend: "test",
      lanes: 2,
      executor: exec,
      trust,
    })
  );
  const client = await DeviceLink.open("127.0.0.1", (listener.addr as Deno.NetAddr).port, {
    timeoutMs: 30_000,
    keys: hostKeys,
  });
  const load = (block: number, name: string, lane: number) =>
    client.request(
      {
        type: "load",
        block,
        stage: "denoiser",
        name,
        file: `denoiser/${name}.onnx`,
        bytes: 1,
        lane,
      },
      {},
      "load",
      null,
    );
  await load(1, "embed", 0);
  const x = { x: { dtype: "float32" as const, dims: [1], data: new Float32Array([4]) } };
  const running = client.request({ type: "run", block: 1 }, x, "run", null);
  const spatial = load(2, "spatial_00", 1); // lane 1: not behind the run on lane 0
  const final = load(3, "final", 2); // lane 2 maps to queue 0: behind the run
  assert.equal((await spatial).reply.type, "result");
  // the load on lane 1 finished while the run on lane 0 is still going; lane 0's next load waits
  assert.deepEqual(log.slice(0, 2), ["start 2", "load embed@0"]);
  assert.ok(
    log.includes("load spatial_00@1") && !log.includes("run embed ends") && !log.includes("load final@0"),
  );
  release();
  assert.deepEqual((await running).tensors.x.data, new Float32Array([4]));
  await final;
  assert.deepEqual(log.slice(4), ["run embed ends", "load final@0"]);
  await client.drainAndClose();
  await served;
  assert.equal(trust.busy, false, "the session slot is free again");
  assert.deepEqual(
    log.slice(6).sort(),
    ["close", "unload embed", "unload final", "unload spatial_00"].sort(),
  );
  assert.equal(log.at(-1), "close");
  listener.close();
});

Deno.test("loopback_device.ts and pair.ts CLIs: pair with the default KDF, keys 0600, serve, forget the host", async () => {
  const dir = await tinyBundle();
  const tmp = await Deno.makeTempDir({ prefix: "odsora-cli-" });
  const script = join(import.meta.dirname!, "loopback_device.ts");
  const run = (file: string, args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", join(import.meta.dirname!, file), ...args],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  const bad = await run("loopback_device.ts", ["--port", "0"]);
  assert.equal(bad.code, 1);
  assert.equal(text(bad.stderr), "Cannot start the loopback device: --bundle DIR is required");
  const deviceKeys = join(tmp, "device-keys.json");
  const hostKeys = join(tmp, "host", "keys.json");
  const start = async (pair: boolean) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        script,
        "--port",
        "0",
        "--bundle",
        dir,
        "--name",
        "cli",
        "--keys",
        deviceKeys,
        ...(pair ? ["--pair-code", "123456"] : []),
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const line = (await reader.read()).value ?? "";
    const port = Number(line.match(/listening on 127\.0\.0\.1:(\d+) /)?.[1]);
    assert.ok(port > 0, line);
    const stop = async () => {
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
      await reader.cancel();
      await child.stderr.cancel();
    };
    return { port, reader, stop };
  };
  try {
    const device = await start(true);
    // the production KDF: the device asks for 600000 PBKDF2 iterations, the host requires at least that
    const paired = await run("pair.ts", [
      "--pair",
      "--port",
      String(device.port),
      "--code",
      "123456",
      "--keys",
      hostKeys,
    ]);
    assert.equal(paired.code, 0, text(paired.stderr));
    assert.match(
      text(paired.stdout),
      /^paired with device 'cli' \(id 'device-[0-9a-f]{32}'\); key stored in /,
    );
    assert.match((await device.reader.read()).value ?? "", /pairing code: 123456/);
    for (const file of [hostKeys, deviceKeys]) {
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600, file);
    }
    const hostId = JSON.parse(await Deno.readTextFile(hostKeys)).id;
    const again = await run("pair.ts", [
      "--pair",
      "--port",
      String(device.port),
      "--code",
      "123456",
      "--keys",
      hostKeys,
    ]);
    assert.equal(again.code, 1);
    assert.match(text(again.stderr), /pairing is closed on this device \(its single-use code was used\)$/);
    const exec = new IosExecutor(ios.options.parse({ port: device.port, keys: hostKeys }));
    await exec.start(1);
    assert.equal(exec.device?.device, "cli");
    await exec.close();
    await device.stop();
    const forgot = await run("loopback_device.ts", ["--keys", deviceKeys, "--forget", hostId]);
    assert.equal(forgot.code, 0, text(forgot.stderr));
    const restarted = await start(false);
    const refused = new IosExecutor(ios.options.parse({ port: restarted.port, keys: hostKeys }));
    await assert.rejects(
      refused.start(1),
      (e) =>
        e instanceof Error &&
        e.message.includes(`Cannot open a session for host '${hostId}' ('odsora'): it is not paired`),
    );
    await restarted.stop();
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
