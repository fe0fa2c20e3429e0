/**
 * End to end: the CLI (a subprocess) on a real tiny bundle built by the exporter — MP4, GIF, PNG frames
 * and the JSON report are checked by decoding them back; runs are seeded and reproducible; a user
 * plugin module works; a cancelled run leaves nothing behind.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { decodeToRgb, runFfmpeg } from "../runtime/media/ffmpeg.ts";
import { framesFromVideo } from "../runtime/media/frames.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import type { RunReport } from "../runtime/pipeline/report.ts";
import { writeMp4 } from "../runtime/media/video.ts";
import { listTree, runCli, tinyBundle, tinyRecipe, writeRecipe } from "./_e2e.ts";
import { ROOT } from "./_bundles.ts";
import { builtins } from "../builtins.ts";
import { withFallbackBundle } from "../runtime/cli/fallback_bundle.ts";

function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.forEach((p, i) => out.set(p, i * p.length));
  return out;
}

async function pngFrames(dir: string): Promise<Uint8Array[]> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  return await Promise.all(names.map(async (n) => (await decodeToRgb(join(dir, n))).frames[0]));
}

Deno.test("the CLI writes MP4, GIF, PNG frames and a report that decode back to the same video", async () => {
  const bundle = await tinyBundle();
  const tmp = await Deno.makeTempDir();
  try {
    const out = join(tmp, "out");
    const recipe = await writeRecipe(tmp, "r.yaml", tinyRecipe(bundle, out));
    const run = await runCli([recipe, "--format", "mp4,gif,png", "--steps", "4"]);
    assert.equal(run.code, 0, run.stderr);
    const files = listTree(out);
    assert.ok(!files.some((f) => f.startsWith(".")), `no pending left: ${files}`);
    assert.deepEqual(files.filter((f) => !f.startsWith("clip_frames/")), [
      "clip.gif",
      "clip.json",
      "clip.mp4",
      "clip_frames",
    ]);
    assert.deepEqual(
      run.stdout.trim().split("\n"),
      ["mp4", "gif", "png", "json"].map((k) =>
        join(out, { mp4: "clip.mp4", gif: "clip.gif", png: "clip_frames", json: "clip.json" }[k]!)
      ),
    );
    // not a TTY: one progress line per step, nothing else besides the truncation warning of this tiny L
    assert.deepEqual(run.lines.filter((l) => l.startsWith("step ")).map((l) => l.split(" ")[1]), [
      "1/4",
      "2/4",
      "3/4",
      "4/4",
    ]);
    assert.ok(run.lines.every((l) => l.startsWith("step ") || l.startsWith("odsora: warning: ")), run.stderr);

    const png = await pngFrames(join(out, "clip_frames"));
    assert.equal(png.length, 17);
    assert.equal(png[0].length, 64 * 64 * 3);
    const mp4 = await decodeToRgb(join(out, "clip.mp4"));
    assert.deepEqual([mp4.width, mp4.height, mp4.frames.length], [64, 64, 17]);
    const probe = await runFfmpeg(["-loglevel", "info", "-i", join(out, "clip.mp4")]);
    assert.match(probe.stderr, /Video: h264 .*yuv420p.*, 64x64/);
    assert.match(probe.stderr, /, 8 fps,/);
    const gif = await decodeToRgb(join(out, "clip.gif"));
    assert.equal(gif.frames.length, 17);
    // A random-weight video is high-frequency noise, which H.264 4:2:0 keeps only roughly (~20 dB); so each
    // MP4 frame must match its own PNG frame clearly better than any other frame or a colour-swapped one,
    // and the MP4 must decode exactly like a fresh encoding of the PNG frames (same frames, order, rate).
    const bgr = (f: Uint8Array) => f.map((_, i) => f[i - (i % 3) + 2 - (i % 3)]);
    for (let t = 0; t < 17; t++) {
      const own = psnr(mp4.frames[t], png[t]);
      const others = png.filter((_, u) => u !== t).map((f) => psnr(mp4.frames[t], f));
      assert.ok(
        own > Math.max(...others, psnr(mp4.frames[t], bgr(png[t]))) + 2,
        `mp4 frame ${t}: ${own.toFixed(1)} dB`,
      );
      assert.ok(
        psnr(gif.frames[t], png[t]) > 25,
        `gif frame ${t}: ${psnr(gif.frames[t], png[t]).toFixed(1)} dB`,
      );
    }
    const ref = join(tmp, "ref.mp4");
    await writeMp4({ width: 64, height: 64, count: 17, data: concatBytes(png) }, 8, ref);
    assert.deepEqual(mp4.frames, (await decodeToRgb(ref)).frames);
    const spread = png[0].reduce((a, v) => Math.max(a, v), 0) - png[0].reduce((a, v) => Math.min(a, v), 255);
    assert.ok(spread > 20, "frames are not blank");

    const report: RunReport = JSON.parse(await Deno.readTextFile(join(out, "clip.json")));
    assert.equal(report.schema, "odsora.report/1");
    assert.deepEqual([report.seed, report.calls, report.timesteps.length, report.steps.length], [5, 4, 4, 4]);
    assert.deepEqual(report.video, { height: 64, width: 64, frames: 17, fps: 8 });
    assert.deepEqual(report.prompts, ["a red circle"]);
    assert.equal((report.bundle as { dir: string }).dir, bundle);
    assert.deepEqual(Object.keys(report.stages), ["text", "denoiser", "vae"]);
    assert.deepEqual(report.plans.map((p) => p.stage), ["text", "denoiser", "vae", "vae"]);
    assert.equal(report.blocks["denoiser/spatial_00"].run.count, 4);
    assert.ok(report.memory.peakRssBytes > 50e6, `peak RSS ${report.memory.peakRssBytes}`);
    assert.deepEqual(report.outputs, [{
      mp4: join(out, "clip.mp4"),
      gif: join(out, "clip.gif"),
      png: join(out, "clip_frames"),
    }]);
    assert.equal((report.recipe as { steps: number }).steps, 4);

    // the same recipe in-process gives the same frames byte for byte (seeded noise, same arithmetic)
    const again = await generate(
      await loadRecipe(recipe, { overrides: { steps: 4, "output.dir": join(tmp, "again") } }),
      { registry: builtins },
    );
    const frames = framesFromVideo(again.video, 0);
    for (let t = 0; t < 17; t++) {
      assert.deepEqual(frames.data.subarray(t * 64 * 64 * 3, (t + 1) * 64 * 64 * 3), png[t]);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("several prompts and seeds: one file per prompt, a seed changes the video, the same seed repeats it", async () => {
  const bundle = await tinyBundle();
  const tmp = await Deno.makeTempDir();
  try {
    const yaml = tinyRecipe(bundle, join(tmp, "a")).replace(
      "prompt: a red circle",
      "prompts: [a red circle, a blue square]",
    );
    const recipe = await writeRecipe(tmp, "r.yaml", yaml);
    const load = (dir: string, seed: number) =>
      loadRecipe(recipe, { overrides: { seed, "output.dir": join(tmp, dir) } });
    const a = await generate(await load("a", 5), { registry: builtins });
    assert.deepEqual(listTree(join(tmp, "a")), ["clip.json", "clip_0000.mp4", "clip_0001.mp4"]);
    assert.equal(a.video.dims[0], 2);
    const b = await generate(await load("b", 5), { registry: builtins });
    assert.deepEqual(b.video.data, a.video.data);
    const c = await generate(await load("c", 6), { registry: builtins });
    assert.notDeepEqual(c.video.data, a.video.data);
    // the two prompts give different videos from the same seed's noise rows
    const half = a.video.data.length / 2;
    assert.notDeepEqual(a.video.data.subarray(0, half), a.video.data.subarray(half));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a sampler plugin module named by path runs (plugins/examples/heun.ts)", async () => {
  const bundle = await tinyBundle();
  const tmp = await Deno.makeTempDir();
  try {
    const heun = join(ROOT, "plugins", "examples", "heun.ts");
    const recipe = await writeRecipe(
      tmp,
      "r.yaml",
      tinyRecipe(bundle, join(tmp, "out"), `sampler: { plugin: ${heun} }`),
    );
    const run = await runCli([recipe, "--quiet"]);
    assert.equal(run.code, 0, run.stderr);
    const report: RunReport = JSON.parse(await Deno.readTextFile(join(tmp, "out", "clip.json")));
    assert.equal(report.calls, 5, "Heun: two model calls per step, one for the last");
    assert.equal(report.steps.length, 5);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a run cancelled between blocks rejects and leaves no files", async () => {
  const bundle = await tinyBundle();
  const tmp = await Deno.makeTempDir();
  try {
    const out = join(tmp, "out");
    const recipe = await loadRecipe(await writeRecipe(tmp, "r.yaml", tinyRecipe(bundle, out, "")));
    const controller = new AbortController();
    const seen: string[] = [];
    await assert.rejects(() =>
      generate(recipe, {
        registry: builtins,
        signal: controller.signal,
        emit: (e) => {
          seen.push(e.type);
          if (e.type === "step" && e.step === 1) controller.abort();
        },
      })
    );
    assert.ok(seen.includes("step") && !seen.includes("done"));
    assert.deepEqual(listTree(out), []);
    assert.ok(!existsSync(out), "the output folder the run created is removed");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a missing bundle with bundle_fallback builds a random bundle once, then reuses it, with warnings", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const fallback = `bundle_fallback: { random: tiny, dir: ${JSON.stringify(join(tmp, "fb"))} }`;
    const path = await writeRecipe(
      tmp,
      "r.yaml",
      tinyRecipe(join(tmp, "missing"), join(tmp, "out"), fallback),
    );
    const warnings: string[] = [];
    const first = await generate(await withFallbackBundle(await loadRecipe(path), (m) => warnings.push(m)), {
      registry: builtins,
    });
    assert.match(
      warnings[0],
      /missing\/bundle\.json' is missing: building a random-weight 'tiny' bundle at '.*fb'/,
    );
    assert.ok(existsSync(join(tmp, "fb", "bundle.json")) && existsSync(first.outputs[0].mp4));
    const again: string[] = [];
    await generate(await withFallbackBundle(await loadRecipe(path), (m) => again.push(m)), {
      registry: builtins,
    });
    assert.match(
      again[0],
      /is missing: using the random-weight 'tiny' bundle at '.*fb' \(its videos are noise\)/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
