import assert from "node:assert/strict";
import { join } from "node:path";
import { blockPath, loadBundle, nullCaption, stageOf } from "./bundle.ts";
import { BundleError } from "../core/errors.ts";
import { toyDenoiserBundle } from "../../tests/_bundles.ts";

async function withManifest(manifest: unknown, fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "bundle.json"),
      typeof manifest === "string" ? manifest : JSON.stringify(manifest),
    );
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadBundle() reads a real bundle, typed, with absolute block paths", async () => {
  const dir = await toyDenoiserBundle();
  const bundle = await loadBundle(dir);
  const den = stageOf(bundle, "denoiser");
  assert.deepEqual(den.blocks.map((b) => b.name), ["embed", "layer_00", "layer_01", "final"]);
  assert.equal(den.blocks[1].outputs[0].onnx_name, "h_out");
  assert.equal(blockPath(bundle, den.blocks[0]), join(dir, "denoiser/embed.onnx"));
  assert.equal(bundle.text, null);
  assert.throws(
    () => stageOf(bundle, "vae"),
    (e) => e instanceof BundleError && /has no vae stage/.test(e.message),
  );
  await assert.rejects(nullCaption(bundle), /Cannot read null caption: bundle 'toy-denoiser' has none/);
});

Deno.test("loadBundle() on a missing folder says how to build a bundle", async () => {
  await assert.rejects(
    loadBundle("/nonexistent/bundle"),
    (e) =>
      e instanceof BundleError &&
      e.message.startsWith("Cannot load bundle: '/nonexistent/bundle/bundle.json' does not exist") &&
      e.message.includes("scripts/py -m export random --config tiny --out DIR"),
  );
});

Deno.test("loadBundle() rejects another schema version naming both", async () => {
  await withManifest({ schema: "odsora.bundle/2" }, async (dir) => {
    await assert.rejects(
      loadBundle(dir),
      /has schema 'odsora.bundle\/2', this runtime reads 'odsora.bundle\/1'/,
    );
  });
  await withManifest("{not json", async (dir) => {
    await assert.rejects(loadBundle(dir), /is not valid JSON/);
  });
});

Deno.test("loadBundle() reads structured provenance, and bundles written before it (detail only)", async () => {
  const toy = JSON.parse(await Deno.readTextFile(join(await toyDenoiserBundle(), "bundle.json")));
  const good = { ...toy, denoiser: null, null_caption: null }; // no block files needed
  const structured = {
    kind: "random",
    detail: "config=tiny seed=5",
    config: "tiny",
    seed: 5,
    stages: ["denoiser"],
  };
  await withManifest({ ...good, source: structured }, async (dir) => {
    assert.deepEqual((await loadBundle(dir)).source, structured);
  });
  // what export/train/export_default.py writes for a model trained in stages
  const trained = {
    kind: "trained",
    detail: "odsora default model",
    checkpoints: { vae: "models/train/vae.pt", dit: "models/train/dit.pt" },
    seed: 0,
    steps: 6500,
    weights: "ema",
    training: { clips_17: 14000, buckets: 6500 },
  };
  await withManifest({ ...good, source: trained }, async (dir) => {
    assert.deepEqual((await loadBundle(dir)).source, trained);
  });
  const old = { kind: "checkpoint", detail: "stdit=a vae=b t5=c" };
  await withManifest({ ...good, source: old }, async (dir) => {
    assert.deepEqual((await loadBundle(dir)).source, old);
  });
  await withManifest({ ...good, source: { ...structured, seed: "5" } }, async (dir) => {
    await assert.rejects(loadBundle(dir), /key 'source.seed'/);
  });
});

Deno.test("loadBundle() names the bad key and missing block files", async () => {
  const good = JSON.parse(await Deno.readTextFile(join(await toyDenoiserBundle(), "bundle.json")));
  await withManifest({ ...good, denoiser: { ...good.denoiser, patch_size: [1, 2] } }, async (dir) => {
    await assert.rejects(
      loadBundle(dir),
      (e) => e instanceof BundleError && /key 'denoiser.patch_size'/.test(e.message),
    );
  });
  await withManifest(good, async (dir) => {
    await assert.rejects(loadBundle(dir), /block 'denoiser\/embed' file '.*embed.onnx' does not exist/);
  });
});
