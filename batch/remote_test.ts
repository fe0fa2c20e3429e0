import assert from "node:assert/strict";
import { join } from "node:path";
import { qualityRows } from "../bench/_quality_rows.ts";
import { ROWS } from "../bench/_rows.ts";

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
