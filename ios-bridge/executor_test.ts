import assert from "node:assert/strict";
import { loadBundle, nullCaption, stageOf } from "../runtime/bundle/bundle.ts";
import { ExecutorError, PluginError } from "../runtime/core/errors.ts";
import { local } from "../runtime/local/executor_local.ts";
import { resolvePlugin } from "../builtins.ts";
import { gaussianNoise } from "../runtime/core/rng.ts";
import { full } from "../runtime/core/tensor.ts";
import type { Executor, MemoryScheduler, PluginDefinition, RunEvent } from "../runtime/core/types.ts";
import { euler } from "../samplers/euler.ts";
import { concurrent, resident, sequential } from "../schedulers/mod.ts";
import { denoiseWith } from "../tests/_denoise_with.ts";
import { tinyBundle } from "../tests/_e2e.ts";
import { ios, IosExecutor } from "./executor.ts";
import { pairedLoopback } from "./_paired.ts";
import { instantiate } from "../runtime/core/registry.ts";
import { frameLimitFor, parseDims } from "./device_trust.ts";

async function denoiseOn(dir: string, executor: Executor, scheduler: MemoryScheduler) {
  const bundle = await loadBundle(dir);
  const d = stageOf(bundle, "denoiser");
  const yNull = await nullCaption(bundle);
  const [L, Cc] = yNull.dims;
  const yMask = full([1, L], 1);
  (yMask.data as Float32Array).fill(0, L - 2);
  return await denoiseWith(bundle, {
    sampler: instantiate(euler),
    scheduler,
    noise: gaussianNoise([1, d.in_channels, 3, 4, 6], 11),
    y: gaussianNoise([1, L, Cc], 12),
    yMask,
    yNull,
    timesteps: [1000, 700, 350],
    fps: 8,
    height: 32,
    width: 48,
    executor,
  });
}

const blockOps = (events: RunEvent[]) =>
  events.filter((e): e is Extract<RunEvent, { type: "block" }> => e.type === "block")
    .map((e) => `${e.pass}:${e.op}:${e.block}@${e.lane}`);

Deno.test("ios executor over the loopback device gives latents bit-equal to the local executor, plan by plan", async () => {
  const dir = await tinyBundle();
  const paired = await pairedLoopback({ bundleDir: dir });
  const device = paired.device;
  try {
    const defs: PluginDefinition<"scheduler">[] = [resident, sequential, concurrent];
    const schedulers = defs.map((d) => instantiate(d));
    const here = local.create(local.options.parse({ threads: 1 })); // the loopback device uses the same defaults
    const phone = new IosExecutor(
      ios.options.parse({ port: device.port, timeoutMs: 60_000, keys: paired.keysFile }),
    );
    try {
      for (const scheduler of schedulers) {
        const a = await denoiseOn(dir, here, scheduler);
        const b = await denoiseOn(dir, phone, scheduler);
        assert.equal(b.calls, 3);
        assert.deepEqual(b.plan, a.plan, scheduler.name);
        assert.deepEqual(b.latent.dims, a.latent.dims);
        assert.ok((b.latent.data as Float32Array).some((v) => v !== 0));
        assert.deepEqual(b.latent.data, a.latent.data, `${scheduler.name}: bit-equal latents`);
        // the same plan ops ran, in the same per-lane order
        assert.deepEqual(blockOps(b.events).sort(), blockOps(a.events).sort());
        const mem = b.events.filter((e) => e.type === "memory");
        assert.ok(mem.length > 0 && mem.every((e) => e.type === "memory" && e.rssBytes > 0));
        assert.equal(phone.device?.backend, "onnxruntime");
        assert.equal((await phone.memory()).residentBytes, 0, "every block released");
      }
    } finally {
      await phone.close();
      await here.close();
    }
  } finally {
    await paired.close();
  }
});

Deno.test("ios executor turns device failures into ExecutorErrors naming the block and the device", async () => {
  const dir = await tinyBundle();
  const paired = await pairedLoopback({ bundleDir: dir, device: "test-phone" });
  const exec = new IosExecutor(
    ios.options.parse({ port: paired.device.port, blockDir: dir, keys: paired.keysFile }),
  );
  try {
    await assert.rejects(
      exec.load({ stage: "denoiser", name: "embed", path: `${dir}/denoiser/embed.onnx`, bytes: 1, lane: 0 }),
      (e) => e instanceof ExecutorError && /not connected \(call start\(\)\)/.test(e.message),
    );
    await exec.start(2);
    const embed = stageOf(await loadBundle(dir), "denoiser").blocks[0];
    const ref = {
      stage: "denoiser" as const,
      name: "embed",
      path: `${dir}/${embed.file}`,
      bytes: embed.bytes,
      lane: 1,
    };
    const missing = { ...ref, name: "nope", path: `${dir}/denoiser/nope.onnx` };
    await assert.rejects(
      exec.load(missing),
      (e) =>
        e instanceof ExecutorError && e.backend === "ios" && e.block === "denoiser/nope" &&
        e.message === "Cannot load block 'denoiser/nope' on device 'test-phone': Cannot resolve block file " +
            "'denoiser/nope.onnx': it does not exist in the device's bundle folder",
    );
    await assert.rejects(
      exec.load({ ...ref, path: "/etc/hosts" }),
      (e) => e instanceof ExecutorError && /'\/etc\/hosts' is not inside blockDir/.test(e.message),
    );
    const block = await exec.load(ref);
    assert.equal((await exec.memory()).residentBytes, embed.bytes);
    await assert.rejects(
      exec.run(block, { x: full([1, 4, 2, 4, 4], 0) }),
      (e) =>
        e instanceof ExecutorError && e.block === "denoiser/embed" &&
        e.message.startsWith("Cannot run block 'denoiser/embed' on device 'test-phone': Cannot run block"),
    );
    await exec.unload(block);
    await assert.rejects(exec.run(block, {}), /Cannot run block 'denoiser\/embed': it is not loaded/);
    assert.equal((await exec.memory()).residentBytes, 0);
  } finally {
    await exec.close();
    await paired.close();
  }
});

Deno.test("ios executor reports a refused connection, a silent device and a dropped connection clearly", async () => {
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  const keys = `${await Deno.makeTempDir()}/keys.json`; // never written: no pairing happens here
  const refused = new IosExecutor(ios.options.parse({ port, timeoutMs: 2000, keys }));
  await assert.rejects(refused.start(1), (e) =>
    e instanceof ExecutorError && e.backend === "ios" &&
    e.message.startsWith(`Cannot connect to the iOS device at '127.0.0.1:${port}': `));

  // a device that accepts, never answers, then (second connection) hangs up mid-request
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const silent = (async () => {
    const first = await listener.accept();
    const second = await listener.accept();
    await second.read(new Uint8Array(64));
    second.close();
    await first.read(new Uint8Array(64)).catch(() => null);
    first.close();
  })();
  const addr = { port: (listener.addr as Deno.NetAddr).port, timeoutMs: 300, keys };
  const slow = new IosExecutor(ios.options.parse(addr));
  await assert.rejects(slow.start(1), (e) =>
    e instanceof ExecutorError &&
    e.message === `Cannot connect to the iOS device at '127.0.0.1:${addr.port}': device '(unknown)' at ` +
        `'127.0.0.1:${addr.port}' did not answer within '300' ms (the connection was closed)`);
  const dropped = new IosExecutor(ios.options.parse({ ...addr, timeoutMs: 5000 }));
  await assert.rejects(
    dropped.start(1),
    (e) => e instanceof ExecutorError && / is closed \(closed by the device\)$/.test(e.message),
  );
  await silent;
  listener.close();
});

Deno.test("the ios executor resolves from the registry by module path and validates its options", async () => {
  const exec = await resolvePlugin("executor", { plugin: "./executor.ts", port: 9999 }, import.meta.dirname!);
  assert.equal(exec.name, "ios");
  await assert.rejects(
    resolvePlugin("executor", { plugin: "./executor.ts", port: 70000 }, import.meta.dirname!),
    (e) => e instanceof PluginError && /Cannot configure executor 'ios': option 'port'/.test(e.message),
  );
  await assert.rejects(
    resolvePlugin("executor", { plugin: "./executor.ts", hots: "x" }, import.meta.dirname!),
    (e) => e instanceof PluginError && e.hook === "options",
  );
});

Deno.test("the frame limit from the bundle's largest block input: the run fits at its dims, a smaller limit is refused before sending", async () => {
  const dir = await tinyBundle();
  const bundle = await loadBundle(dir);
  const L = (await nullCaption(bundle)).dims[0];
  // the run of denoiseOn(): CFG batch 2, latent 3x4x6 (Hp x Wp), 2x3 patches (H x W); text and VAE small
  const dims = {
    B: 2,
    T: 3,
    H: 2,
    W: 3,
    Hp: 4,
    Wp: 6,
    Tm: 3,
    L,
    "text.B": 1,
    "vae.B": 1,
    "vae.N": 1,
    "vae.T": 1,
    "vae.H": 1,
    "vae.W": 1,
  };
  const fits = frameLimitFor(bundle, dims, 4096);
  const small = frameLimitFor(bundle, { ...dims, B: 1 }, 4096);
  assert.ok(small < fits);
  for (const [limit, ok] of [[fits, true], [small, false]] as const) {
    const paired = await pairedLoopback({ bundleDir: dir, maxFrameBytes: limit });
    const phone = new IosExecutor(ios.options.parse({ port: paired.device.port, keys: paired.keysFile }));
    try {
      const run = denoiseOn(dir, phone, instantiate(sequential));
      if (ok) {
        assert.equal((await run).calls, 3);
        assert.equal(phone.device?.maxFrameBytes, fits);
      } else {
        await assert.rejects(
          run,
          (e) =>
            e instanceof ExecutorError &&
            /^Cannot run block 'denoiser\/\w+': Cannot send 'run' frame: its '\d+' bytes exceed the peer's frame limit '\d+'$/
              .test(e.message),
        );
      }
    } finally {
      await phone.close();
      await paired.close();
    }
  }
  assert.throws(
    () => frameLimitFor(bundle, { B: 2 }),
    /dim '\w+' of input '\w+' of block '\w+\/\w+' is not given/,
  );
  assert.deepEqual(parseDims("B=2, vae.N=3"), { B: 2, "vae.N": 3 });
  assert.throws(() => parseDims("B=0"), /'B=0' is not NAME=positive integer/);
});
