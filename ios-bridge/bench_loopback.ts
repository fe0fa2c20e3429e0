/**
 * Measures the bridge on this machine: WebCrypto's HMAC-SHA256 and AES-256-GCM throughput (why frames
 * are MAC'd but not encrypted), frame transport throughput (a 64 MiB tensor echoed over TCP, without and
 * with the session's per-frame MAC), and one denoiser pass of a bundle locally and through a paired
 * loopback device. Prints medians and writes them as JSON (`--out FILE`); compare ratios, not absolute
 * times (shared CPU).
 *
 *   deno run -A ios-bridge/bench_loopback.ts [--bundle DIR] [--reps N] [--out FILE]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { loadBundle, stageOf } from "../runtime/bundle/bundle.ts";
import { local } from "../runtime/local/executor_local.ts";
import { gaussianNoise } from "../runtime/core/rng.ts";
import type { Executor, TensorMap } from "../runtime/core/types.ts";
import { FrameConnection } from "./connection.ts";
import { hmac, hmacKey, randomBytes } from "./crypto.ts";
import { ios } from "./executor.ts";
import { KeyStore } from "./keys.ts";
import { startLoopbackDevice } from "./loopback_device.ts";
import { pairWithDevice } from "./pair.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** MiB/s of WebCrypto HMAC-SHA256 and AES-256-GCM (encrypt) over one buffer of `mib` MiB. */
async function cryptoThroughput(mib: number, reps: number): Promise<{ hmac: number; aesGcm: number }> {
  const data = new Uint8Array(gaussianNoise([mib * 2 ** 18], 3).data.buffer as ArrayBuffer); // content is irrelevant
  const mac = await hmacKey(randomBytes(32));
  const aes = await crypto.subtle.importKey("raw", randomBytes(32), "AES-GCM", false, ["encrypt"]);
  const rate = async (work: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      await work();
      times.push(performance.now() - t);
    }
    return mib / (median(times) / 1000);
  };
  return {
    hmac: await rate(() => hmac(mac, data)),
    aesGcm: await rate(() => crypto.subtle.encrypt({ name: "AES-GCM", iv: randomBytes(12) }, aes, data)),
  };
}

async function echoThroughput(mib: number, reps: number, mac: boolean): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const up = await hmacKey(randomBytes(32));
  const down = await hmacKey(randomBytes(32));
  const server = listener.accept().then((conn) => {
    const link: FrameConnection = new FrameConnection(conn, {
      onFrame: (f) => void link.send({ type: "result", id: f.header.id }, f.tensors),
      onClose: () => {},
    });
    if (mac) link.secure({ send: down, receive: up });
    return link.done;
  });
  const waiting = new Map<number, () => void>();
  const client = new FrameConnection(
    await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port }),
    { onFrame: (f) => waiting.get(f.header.id)?.(), onClose: () => {} },
  );
  if (mac) client.secure({ send: up, receive: down });
  const x = { x: gaussianNoise([mib * 262144], 1) };
  const times: number[] = [];
  for (let i = 1; i <= reps; i++) {
    const t = performance.now();
    await new Promise<void>((resolve) => (waiting.set(i, resolve), client.send({ type: "run", id: i }, x)));
    times.push(performance.now() - t);
  }
  client.close();
  await server;
  listener.close();
  return (2 * mib) / (median(times) / 1000); // MiB moved (there and back) per second
}

async function blockTimes(exec: Executor, dir: string, reps: number, feeds: TensorMap) {
  const bundle = await loadBundle(dir);
  const blocks = stageOf(bundle, "denoiser").blocks;
  await exec.start(1);
  const loaded = [];
  for (const b of blocks) {
    loaded.push(
      await exec.load({ stage: "denoiser", name: b.name, path: join(dir, b.file), bytes: b.bytes, lane: 0 }),
    );
  }
  const pass: number[] = [];
  for (let r = 0; r < reps; r++) {
    const env: TensorMap = { ...feeds };
    const t = performance.now();
    for (const [i, b] of blocks.entries()) {
      const out = await exec.run(
        loaded[i],
        Object.fromEntries(b.inputs.map((io) => [io.name, env[io.name]])),
      );
      for (const io of b.outputs) env[io.name] = out[io.onnx_name ?? io.name];
    }
    pass.push(performance.now() - t);
  }
  for (const b of loaded) await exec.unload(b);
  await exec.close();
  return { passMs: median(pass), blocks: blocks.length };
}

function passFeeds(cin: number, cc: number, lmax: number): TensorMap {
  const T = 5, H = 16, W = 16, L = Math.min(lmax, 8);
  const eye = new Float32Array(T * T).map((_, i) => (i % (T + 1) === 0 ? 1 : 0));
  return {
    x: gaussianNoise([2, cin, T, H, W], 1),
    timestep: { dtype: "float32", dims: [2], data: new Float32Array([500, 500]) },
    y: gaussianNoise([2, L, cc], 2),
    y_mask: { dtype: "float32", dims: [2, L], data: new Float32Array(2 * L).fill(1) },
    x_mask: { dtype: "float32", dims: [2, T], data: new Float32Array(2 * T).fill(1) },
    fps: { dtype: "float32", dims: [2], data: new Float32Array([24, 24]) },
    height: { dtype: "float32", dims: [1], data: new Float32Array([128]) },
    width: { dtype: "float32", dims: [1], data: new Float32Array([128]) },
    merge_t: { dtype: "float32", dims: [T, T], data: eye },
    unmerge_t: { dtype: "float32", dims: [T, T], data: eye },
    rope_pos: { dtype: "float32", dims: [T], data: Float32Array.from({ length: T }, (_, i) => i) },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { bundle: { type: "string" }, reps: { type: "string" }, out: { type: "string" } },
  });
  const reps = Number(values.reps ?? 7);
  const report: Record<string, unknown> = {
    schema: "odsora.ios-bridge-bench/1",
    at: new Date().toISOString(),
    reps,
    loadAverage: Deno.loadavg(),
  };
  const c = await cryptoThroughput(64, reps);
  report.cryptoMiBps = {
    hmacSha256: Math.round(c.hmac),
    aes256GcmEncrypt: Math.round(c.aesGcm),
    bufferMiB: 64,
  };
  console.log(
    `WebCrypto over 64 MiB: HMAC-SHA256 ${c.hmac.toFixed(0)} MiB/s, AES-256-GCM ${c.aesGcm.toFixed(0)} MiB/s`,
  );
  const plain = await echoThroughput(64, reps, false);
  const maced = await echoThroughput(64, reps, true);
  report.transportMiBps = { plain: Math.round(plain), mac: Math.round(maced), tensorMiB: 64 };
  console.log(
    `frame transport (64 MiB tensor, both ways): ${plain.toFixed(0)} MiB/s plain, ${
      maced.toFixed(0)
    } MiB/s with per-frame MAC`,
  );
  if (values.bundle) {
    const bundle = await loadBundle(values.bundle);
    const d = stageOf(bundle, "denoiser");
    const cc = bundle.null_caption?.dims[1] ?? 32;
    const feeds = passFeeds(d.in_channels, cc, bundle.null_caption?.dims[0] ?? 8);
    const here = await blockTimes(
      local.create({ threads: 1, arena: false, trim: true }),
      values.bundle,
      reps,
      feeds,
    );
    let code = "";
    const device = startLoopbackDevice({
      bundleDir: values.bundle,
      port: 0,
      lanes: 1,
      pairing: { showCode: (c) => (code = c) },
      log: () => {},
    });
    const keysFile = `${await Deno.makeTempDir()}/keys.json`;
    await pairWithDevice({
      host: "127.0.0.1",
      port: device.port,
      code: () => code,
      keys: await KeyStore.open(keysFile, "host"),
    });
    const there = await blockTimes(
      ios.create(ios.options.parse({ port: device.port, keys: keysFile })),
      values.bundle,
      reps,
      feeds,
    );
    await device.close();
    await Deno.remove(keysFile);
    report.denoiserPass = { blocks: here.blocks, localMs: here.passMs, iosMs: there.passMs };
    console.log(`denoiser pass (${here.blocks} blocks, B=2 T=5 16x16 latent), median of ${reps}:`);
    console.log(
      `  local ${here.passMs.toFixed(1)} ms, ios via loopback ${there.passMs.toFixed(1)} ms ` +
        `(+${((there.passMs - here.passMs) / here.blocks).toFixed(2)} ms per block, ratio ${
          (there.passMs / here.passMs).toFixed(2)
        })`,
    );
  }
  if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(report, null, 2) + "\n");
}
