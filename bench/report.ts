/**
 * The bench report: rows with ratios against the baseline row, as JSON (bench/report.json) and as a
 * table for the terminal.
 *
 * @module
 */

/** One row of bench/report.json (null where a figure does not apply). */
export interface ReportRow {
  name: string;
  bundle: string;
  denoise_s: number;
  total_s: number;
  speedup_denoise: number;
  speedup_total: number;
  peak_rss_bytes: number;
  /** RSS when the row started (process, no block loaded); peak − start is what the row added. */
  start_rss_bytes: number;
  budget_bytes: number | null;
  /** The planner's bound on weights + working memory. */
  plan_peak_bytes: number;
  /** Whether the raw added peak RSS (peak − start, lanes and all, nothing subtracted) stayed within the budget (null without a budget). */
  within_budget: boolean | null;
  /** The run's measure-then-adapt note after the first pass (its re-plan and why), null without a budget. */
  replan?: string | null;
  /** Resident blocks of the first pass's plan (the final plan's are `resident_blocks`). */
  first_plan_resident?: number | null;
  overlap: number | null;
  ssim: number | null;
  psnr: number | null;
  quality_bundle: string | null;
  /** The step the speed run leapt at (null: no leap). */
  leap_step: number | null;
  /** The step dynamic LPL leapt at on the trained default model in the quality half (null: none or not run). */
  leap_step_trained: number | null;
  /**
   * Which leap the speed run (and so its ratio) used: "trained-model" (the quality half's), "speed-bundle"
   * (dynamic LPL deciding on the random-weight speed bundle, only when no trained model ran), null for rows
   * without dynamic LPL.
   */
  leap_source: "trained-model" | "speed-bundle" | null;
  model_calls: number;
  /** Model calls the step cache reused (0 without one). */
  reused_calls: number;
  /**
   * Which reuse decisions the speed run used: "trained-model" (the steps the cache reused on the trained
   * default model in the quality half, replayed as a `fixed` list), "speed-bundle" (the cache deciding on
   * the random-weight speed bundle, only when no trained model ran), null for rows without a cache.
   */
  cache_source: "trained-model" | "speed-bundle" | null;
  /** Streamed block loads (resident setup excluded) during reused / computed model calls. */
  loads_reused: number;
  loads_computed: number;
  resident_blocks: number;
  lanes: number;
  /** Relative L2 of the final latent vs the baseline's (0 = bit-equal). */
  latent_rel_l2: number;
  capacity_cores: number | null;
}

/** Fill the speed-up columns from the first row (the baseline). */
export function withRatios(rows: Omit<ReportRow, "speedup_denoise" | "speedup_total">[]): ReportRow[] {
  const base = rows[0];
  return rows.map((r) => ({
    ...r,
    speedup_denoise: base.denoise_s / r.denoise_s,
    speedup_total: base.total_s / r.total_s,
  }));
}

const fmt = (v: number | null, digits = 2) => (v === null ? "-" : v.toFixed(digits));
const mib = (v: number | null) => (v === null ? "-" : `${(v / 2 ** 20).toFixed(0)}M`);

/**
 * The rows as an aligned text table.
 *
 * @example
 * ```ts ignore
 * console.log(formatTable(report.rows));
 * ```
 */
export function formatTable(rows: readonly ReportRow[]): string {
  const head = [
    "row",
    "denoise s",
    "total s",
    "x denoise",
    "x total",
    "peak RSS",
    "added RSS",
    "budget",
    "plan peak",
    "overlap",
    "SSIM",
    "PSNR",
    "leap",
    "leap (trained)",
    "calls",
    "reused",
  ];
  const body = rows.map((r) => [
    r.name,
    fmt(r.denoise_s, 1),
    fmt(r.total_s, 1),
    fmt(r.speedup_denoise),
    fmt(r.speedup_total),
    mib(r.peak_rss_bytes),
    mib(r.peak_rss_bytes - r.start_rss_bytes),
    mib(r.budget_bytes),
    mib(r.plan_peak_bytes),
    fmt(r.overlap),
    fmt(r.ssim, 3),
    fmt(r.psnr, 1),
    r.leap_step === null ? "-" : String(r.leap_step),
    r.leap_step_trained === null ? "-" : String(r.leap_step_trained),
    String(r.model_calls),
    String(r.reused_calls),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), ...body.map(line)].join("\n");
}
