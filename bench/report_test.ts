import assert from "node:assert/strict";
import { formatTable, type ReportRow, withRatios } from "./report.ts";

const row = (
  name: string,
  denoise: number,
  total: number,
): Omit<ReportRow, "speedup_denoise" | "speedup_total"> => ({
  name,
  bundle: "b",
  denoise_s: denoise,
  total_s: total,
  peak_rss_bytes: 2 ** 30,
  start_rss_bytes: 2 ** 28,
  budget_bytes: null,
  plan_peak_bytes: 2 ** 29,
  within_budget: null,
  overlap: null,
  ssim: null,
  psnr: null,
  quality_bundle: null,
  leap_step: null,
  leap_step_trained: null,
  leap_source: null,
  model_calls: 30,
  reused_calls: 0,
  cache_source: null,
  loads_reused: 0,
  loads_computed: 0,
  resident_blocks: 3,
  lanes: 1,
  latent_rel_l2: 0,
  capacity_cores: null,
});

Deno.test("withRatios() divides the baseline's times by each row's", () => {
  const rows = withRatios([row("baseline", 10, 12), row("lpl-15", 5, 8)]);
  assert.deepEqual(rows.map((r) => [r.speedup_denoise, r.speedup_total]), [[1, 1], [2, 1.5]]);
});

Deno.test("formatTable() prints one aligned line per row with '-' for missing figures", () => {
  const lines = formatTable(withRatios([row("baseline", 10, 12), row("lpl-15", 5, 8)])).split("\n");
  assert.equal(lines.length, 3);
  assert.match(
    lines[2],
    /^lpl-15\s+5\.0\s+8\.0\s+2\.00\s+1\.50\s+1024M\s+768M\s+-\s+512M\s+-\s+-\s+-\s+-\s+-\s+30\s+0$/,
  );
  assert.equal(new Set(lines.map((l) => l.length)).size, 1);
});
