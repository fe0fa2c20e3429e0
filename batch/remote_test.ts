import assert from "node:assert/strict";
import { join } from "node:path";
import { qualityRows } from "../bench/_quality_rows.ts";
import { ROWS } from "../bench/_rows.ts";
import { generateClips, generateClipsRemote } from "../eval/eval.ts";
import { readPrompts } from "../eval/prompt_file.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test({
  name: "generateRemote via qualityRows: worker processes give the in-process figures (bench quality rows)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const recipe = join(ROOT, "recipes/default.yaml"), bundle = join(ROOT, "models/default");
    const rows = ROWS.filter((r) => r.name === "baseline" || r.name === "lpl-15");
    assert.equal(rows.length, 2);
    const inline = await qualityRows(recipe, bundle, rows);
    const remote = await qualityRows(recipe, bundle, rows, { engine: "local", workers: 2 });
    for (const row of rows) {
      const a = inline.get(row.name)!, b = remote.get(row.name)!;
      assert.deepEqual(
        { ssim: b.ssim, psnr: b.psnr, calls: b.calls, leapStep: b.leapStep },
        { ssim: a.ssim, psnr: a.psnr, calls: a.calls, leapStep: a.leapStep },
        row.name,
      );
    }
    assert.ok(remote.get("lpl-15")!.ssim < 1, "the rows differ, so the comparison can fail");
  },
});

Deno.test({
  name: "eval's clips on worker processes equal its in-process clips (same chunks, prompts and seeds)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const recipe = join(ROOT, "recipes/default.yaml");
    const prompts = (await readPrompts(join(ROOT, "eval/prompts.jsonl"))).slice(0, 3);
    const inline = await generateClips(prompts, recipe, "default", { batch: 2 });
    const remote = (await generateClipsRemote(prompts, recipe, ["default"], { batch: 2, engine: "local" }))
      .get("default")!;
    assert.equal(remote.clips.length, 3);
    remote.clips.forEach((c, i) => assert.deepEqual(c, inline.clips[i], `clip ${i}`));
    assert.notDeepEqual(remote.clips[0].data, remote.clips[1].data, "different prompts give different clips");
  },
});
