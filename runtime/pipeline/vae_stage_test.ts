import { instantiate } from "../core/registry.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { cached, exporterSources, goldenDir, py } from "../../tests/_bundles.ts";
import { loadBundle } from "../bundle/bundle.ts";
import { StageError } from "../core/errors.ts";
import { local } from "../local/executor_local.ts";
import { readSafetensors } from "../bundle/safetensors.ts";
import { relL2 } from "../core/tensor.ts";
import type { Tensor } from "../core/types.ts";
import { decodeVideo, framesFor, latentFrames } from "./vae_stage.ts";
import { vaeWorkBytes } from "../core/work_estimate.ts";
import { resident } from "../../schedulers/resident.ts";

const V12 = { temporal_factor: 4, chunk_latents: 5, chunk_frames: 17 };

Deno.test("latentFrames() follows Open-Sora's table; framesFor() inverts it", () => {
  const table: [number, number][] = [[1, 1], [16, 4], [17, 5], [34, 10], [51, 15], [68, 20], [102, 30], [
    408,
    120,
  ]];
  for (const [f, t] of table) assert.equal(latentFrames(V12, f), t, `F=${f}`);
  assert.deepEqual(framesFor(V12, 5), [17]);
  assert.deepEqual(framesFor(V12, 3), [9, 10, 11, 12]);
  assert.deepEqual(framesFor({ temporal_factor: 1, chunk_latents: 1, chunk_frames: 1 }, 7), [7]);
});

/** A bundle from a golden fixture (partial: just the vae stage), cached by exporter version. */
function fixtureBundle(name: string): Promise<string> {
  return cached(`fixture-${name}`, exporterSources(), async (dir) => {
    await py([
      "-m",
      "export",
      "fixture",
      join(goldenDir(), name),
      "--out",
      join(dir, "b"),
      "--threads",
      "1",
      "--quiet",
    ]);
  });
}

async function decode(dir: string, latent: Tensor<"float32">, frames: number) {
  const bundle = await loadBundle(dir);
  const executor = local.create({ threads: 1, arena: false, trim: true });
  try {
    const scheduler = instantiate(resident);
    return await decodeVideo({
      bundle,
      latent,
      frames,
      executor,
      scheduler,
      budget: { bytes: null },
      emit: () => {},
    });
  } finally {
    await executor.close();
  }
}

Deno.test("decodeVideo() matches the golden Open-Sora pipeline decode (both decoders)", async () => {
  const dir = join(await fixtureBundle("vae_pipeline_decode"), "b");
  const io = await readSafetensors(join(goldenDir(), "vae_pipeline_decode", "io.safetensors"));
  const frames = Number((io.p_num_frames.data as BigInt64Array)[0]);
  const { video, plans } = await decode(dir, io.p_dec_z as Tensor<"float32">, frames);
  assert.deepEqual(video.dims, io.p_dec_out.dims);
  assert.ok(relL2(video, io.p_dec_out) < 1e-4, `rel L2 ${relL2(video, io.p_dec_out)}`);
  assert.deepEqual(plans.map((p) => p.resident), [["temporal_decode"], ["spatial_decode"]]);
});

Deno.test("decodeVideo() runs bundles holding only the temporal or only the spatial decoder", async () => {
  const tdir = join(await fixtureBundle("vae_temporal_decode"), "b");
  const t = await readSafetensors(join(goldenDir(), "vae_temporal_decode", "io.safetensors"));
  const nf = t.t_dec_out_nf17.dims[2];
  const z = await decode(tdir, t.t_dec_z as Tensor<"float32">, nf);
  assert.deepEqual(z.video.dims, t.t_dec_out_nf17.dims);
  assert.ok(relL2(z.video, t.t_dec_out_nf17) < 1e-4, `temporal rel L2 ${relL2(z.video, t.t_dec_out_nf17)}`);

  const sdir = join(await fixtureBundle("vae_spatial_decode"), "b");
  const s = await readSafetensors(join(goldenDir(), "vae_spatial_decode", "io.safetensors"));
  const img = await decode(sdir, s.s_dec_z as Tensor<"float32">, s.s_dec_z.dims[2]);
  assert.deepEqual(img.video.dims, s.s_dec_out.dims);
  assert.ok(relL2(img.video, s.s_dec_out) < 1e-4, `spatial rel L2 ${relL2(img.video, s.s_dec_out)}`);
  // without a temporal decoder a latent frame is a frame
  await assert.rejects(
    () => decode(sdir, s.s_dec_z as Tensor<"float32">, s.s_dec_z.dims[2] + 1),
    StageError,
    "has no temporal decoder",
  );
});

const REFERENCE = `
import sys, torch
from safetensors.torch import save_file
from export.models.vae import pipeline_decode
from export.onnx.vae import load_vae, random_vae_source, vae_config
torch.manual_seed(11)
cfg = vae_config("tiny")
pipe = load_vae(cfg, random_vae_source(cfg, 5))
out = {}
with torch.no_grad():
    for f in (9, 34, 40):
        t = (f // 17) * 5 + -(-(f % 17) // 4)
        z = torch.randn(2, 4, t, 4, 5)
        out[f"z{f}"] = z
        out[f"video{f}"] = pipeline_decode(pipe, z, f, chunk_latents=5, chunk_frames=17, micro_batch=4).contiguous()
save_file(out, sys.argv[1])
`;

Deno.test("decodeVideo() matches the Python reference for short last chunks and several chunks", async () => {
  const dir = await cached("vae-random-tiny", exporterSources(), async (d) => {
    const args = ["--config", "tiny", "--stages", "vae", "--seed", "5", "--threads", "1", "--quiet"];
    await py(["-m", "export", "random", ...args, "--out", join(d, "b")]);
    await py(["-c", REFERENCE, join(d, "expected.safetensors")]);
  });
  const expected = await readSafetensors(join(dir, "expected.safetensors"));
  for (const f of [9, 34, 40]) {
    const { video } = await decode(join(dir, "b"), expected[`z${f}`] as Tensor<"float32">, f);
    const ref = expected[`video${f}`];
    assert.deepEqual(video.dims, ref.dims, `F=${f}`);
    assert.ok(relL2(video, ref) < 1e-4, `F=${f}: rel L2 ${relL2(video, ref)}`);
  }
  const z = expected.z9 as Tensor<"float32">;
  await assert.rejects(() => decode(join(dir, "b"), z, 17), StageError, "'17' frames need '5' latent frames");
});

Deno.test("decodeVideo() shrinks the spatial micro-batch to fit a budget, says so, and decodes the same frames", async () => {
  const dir = await cached("vae-random-tiny", exporterSources(), async (d) => {
    const args = ["--config", "tiny", "--stages", "vae", "--seed", "5", "--threads", "1", "--quiet"];
    await py(["-m", "export", "random", ...args, "--out", join(d, "b")]);
    await py(["-c", REFERENCE, join(d, "expected.safetensors")]);
  });
  const expected = await readSafetensors(join(dir, "expected.safetensors"));
  const z = expected.z34 as Tensor<"float32">;
  const bundle = await loadBundle(join(dir, "b"));
  const whole = await decode(join(dir, "b"), z, 34);
  const spatial = bundle.vae!.blocks.find((b) => b.name === "spatial_decode")!;
  const [, C, , h, w] = z.dims;
  const pixels = h * w * bundle.vae!.spatial_factor ** 2;
  // room for one frame's working memory a micro-batch (not the bundle's four), weights and all
  const oneFrame = vaeWorkBytes({ params: spatial.params, frames: 1, pixels, channels: C });
  const notes: string[] = [];
  const executor = local.create({ threads: 1, arena: false, trim: true });
  try {
    const scheduler = instantiate(resident);
    const { video, plans } = await decodeVideo({
      bundle,
      latent: z,
      frames: 34,
      executor,
      scheduler,
      budget: { bytes: null },
      budgetFor: () => ({ bytes: spatial.bytes + bundle.vae!.blocks[0].bytes + oneFrame }),
      note: (m) => notes.push(m),
      emit: () => {},
    });
    assert.match(notes.join("\n"), /micro-batch shrunk from 4 to 1 frame/);
    assert.ok(plans.every((p) => p.peakBytes <= spatial.bytes + bundle.vae!.blocks[0].bytes + oneFrame));
    assert.deepEqual(video.dims, whole.video.dims);
    assert.deepEqual(video.data, whole.video.data, "frames decode alone exactly as in a micro-batch of four");
  } finally {
    await executor.close();
  }
});
