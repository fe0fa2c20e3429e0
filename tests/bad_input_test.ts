/**
 * The bad-input corpus: each case runs the CLI as a subprocess and expects exactly one clear error line
 * on stderr ("odsora: error: Cannot ..."), a non-zero exit code, and no output file left behind. A prompt
 * longer than the text encoder's length is the exception: it is truncated with a warning and succeeds.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type CliRun, listTree, runCli, tinyBundle, tinyRecipe, writeRecipe } from "./_e2e.ts";

/** Assert one error line matching `pattern` (warnings before it allowed), exit ≠ 0, and an empty `out`. */
function assertFails(run: CliRun, pattern: RegExp, out: string, code = 1): void {
  const errors = run.lines.filter((l) => !l.startsWith("odsora: warning: "));
  assert.equal(errors.length, 1, `one error line expected, stderr was:\n${run.stderr}`);
  assert.match(errors[0], /^odsora: error: Cannot /);
  assert.match(errors[0], pattern);
  assert.equal(run.code, code, run.stderr);
  assert.equal(run.stdout, "");
  assert.deepEqual(listTree(out), [], "no output left behind");
}

async function withTmp(fn: (tmp: string, out: string, bundle: string) => Promise<void>): Promise<void> {
  const bundle = await tinyBundle();
  const tmp = await Deno.makeTempDir();
  try {
    await fn(tmp, join(tmp, "out"), bundle);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("bad recipes: malformed YAML, unknown key, wrong type — file, key path and line named", async () => {
  await withTmp(async (tmp, out, bundle) => {
    const good = tinyRecipe(bundle, out);
    const broken = await writeRecipe(tmp, "broken.yaml", good.replace("seed: 5", "seed: [5"));
    assertFails(await runCli([broken]), /recipe '.*broken\.yaml': line \d+: malformed YAML/, out);
    const typo = await writeRecipe(tmp, "typo.yaml", good.replace("steps: 3", "stpes: 3"));
    assertFails(await runCli([typo]), /recipe '.*typo\.yaml': line 8, key 'stpes': unknown key 'stpes'/, out);
    const recipe = await writeRecipe(tmp, "r.yaml", good);
    assertFails(await runCli([recipe, "--steps", "many"]), /--steps \(key 'steps'\): .*expected number/, out);
    assertFails(
      await runCli([join(tmp, "none.yaml")]),
      /recipe '.*none\.yaml': the file does not exist/,
      out,
    );
    assertFails(await runCli([recipe, "--stepz", "3"]), /Cannot parse the command line: .*stepz/, out, 2);
  });
});

Deno.test("bad plugins: an unknown name, a module that throws, bad options", async () => {
  await withTmp(async (tmp, out, bundle) => {
    const unknown = await writeRecipe(
      tmp,
      "u.yaml",
      tinyRecipe(bundle, out, "sampler: { name: warp-drive }"),
    );
    assertFails(
      await runCli([unknown]),
      /Cannot resolve sampler 'warp-drive': no built-in has that name .*euler.*\(.*u\.yaml line 10, key 'sampler'\)/,
      out,
    );
    await Deno.writeTextFile(
      join(tmp, "boom.ts"),
      'throw new Error("boom at import");\nexport const plugin = {};\n',
    );
    const boom = await writeRecipe(tmp, "b.yaml", tinyRecipe(bundle, out, "sampler: { plugin: ./boom.ts }"));
    assertFails(await runCli([boom]), /Cannot load sampler plugin module '.*boom\.ts': boom at import/, out);
    const opts = await writeRecipe(
      tmp,
      "o.yaml",
      tinyRecipe(bundle, out, "sampler: { name: euler, speed: 3 }"),
    );
    assertFails(await runCli([opts]), /Cannot configure sampler 'euler': .*speed/, out);
  });
});

Deno.test("a missing bundle says how to build one", async () => {
  await withTmp(async (tmp, out) => {
    const recipe = await writeRecipe(tmp, "r.yaml", tinyRecipe(join(tmp, "no-bundle"), out));
    assertFails(
      await runCli([recipe]),
      /Cannot load bundle: '.*no-bundle\/bundle\.json' does not exist; .*scripts\/py -m export/,
      out,
    );
  });
});

Deno.test("a truncated ONNX file fails the run with the block named, after pending, leaving nothing", async () => {
  await withTmp(async (tmp, out, bundle) => {
    const copy = join(tmp, "bundle");
    await Deno.mkdir(copy);
    for (const rel of ["bundle.json", "tokenizer.json", "null_caption.bin"]) {
      await Deno.copyFile(join(bundle, rel), join(copy, rel));
    }
    for (const stage of ["text", "denoiser", "vae"]) {
      await Deno.mkdir(join(copy, stage));
      for (const e of Deno.readDirSync(join(bundle, stage))) {
        await Deno.copyFile(join(bundle, stage, e.name), join(copy, stage, e.name));
      }
    }
    const victim = join(copy, "denoiser", "spatial_01.onnx");
    const bytes = await Deno.readFile(victim);
    await Deno.writeFile(victim, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const recipe = await writeRecipe(tmp, "r.yaml", tinyRecipe(copy, out));
    assertFails(await runCli([recipe]), /spatial_01/, out);
    assert.ok(!existsSync(out), "the output folder the run created is gone too");
  });
});

Deno.test("a prompt longer than the text length is truncated with a warning and the run succeeds", async () => {
  await withTmp(async (tmp, out, bundle) => {
    const recipe = await writeRecipe(tmp, "r.yaml", tinyRecipe(bundle, out));
    const long = Array(40).fill("a red circle moving left").join(" and ");
    const run = await runCli([recipe, "--prompt", long, "--quiet"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.lines.length, 1, run.stderr);
    assert.match(
      run.lines[0],
      /^odsora: warning: prompt 1 has \d+ tokens \(EOS included\), the text encoder takes \d+: truncated/,
    );
    assert.deepEqual(listTree(out), ["clip.json", "clip.mp4"]);
  });
});

Deno.test("frames and sizes the bundle cannot make are refused before any work", async () => {
  await withTmp(async (tmp, out, bundle) => {
    const recipe = await writeRecipe(tmp, "r.yaml", tinyRecipe(bundle, out));
    assertFails(
      await runCli([recipe, "--frames", "8"]),
      /Cannot make a video with frames '8' \(option --frames\): .*zero shift ratio/,
      out,
    );
    assertFails(
      await runCli([recipe, "--height", "4"]),
      /Cannot make a video with height '4' \(option --height\): .*minimum is '8'/,
      out,
    );
    assertFails(
      await runCli([recipe, "--frames", "0"]),
      /--frames \(key 'frames'\): .*expected number to be >0/,
      out,
    );
  });
});

Deno.test("an unwritable output path or a budget below one block fails cleanly", async () => {
  await withTmp(async (tmp, out, bundle) => {
    const recipe = await writeRecipe(tmp, "r.yaml", tinyRecipe(bundle, out));
    await Deno.writeTextFile(join(tmp, "a-file"), "not a folder");
    const run = await runCli([recipe, "--out", join(tmp, "a-file", "out")]);
    assertFails(run, /Cannot write output: folder '.*a-file\/out' is not writable/, out);
    assert.equal(await Deno.readTextFile(join(tmp, "a-file")), "not a folder");
    const budget = await runCli([recipe, "--scheduler", "sequential", "--budget", "1KB"]);
    // a run budget holds the first lane too: 1 KB is refused before any work
    assertFails(budget, /Cannot run within the memory budget: the first lane .* the budget is '1000 B'/, out);
  });
});
