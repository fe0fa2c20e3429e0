/**
 * The quality half of the bench: every row run end to end on the default model (recipes/default.yaml
 * with the row's sampler and token ops), its video compared with the baseline row's video. Memory
 * schedulers change a result by at most about 1e-6 relative L2 (streamed blocks are not pre-packed; each speed
 * row's `latent_rel_l2`; bit-equal on the toy bundle of tests/conformance_schedulers_test.ts), and a budget
 * given as a share of the XL denoiser can be below one block's working memory on the tiny model, so quality
 * rows run resident. The bench runs this half first: the step dynamic LPL leaps at here is where its speed
 * row leaps (bench/_rows.ts `speedSampler`).
 *
 * @module
 */
import { join } from "node:path";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import type { RunEvent, Tensor } from "../runtime/core/types.ts";
import { generateRemote, type RemoteOptions } from "../batch/remote.ts";
import type { RowSpec } from "./_rows.ts";
import { videoPsnr, videoSsim } from "./quality.ts";
import { builtins } from "../builtins.ts";

/** Quality figures of one row on the default model. */
export interface QualityRow {
  ssim: number;
  psnr: number;
  /** End-to-end time of the generation on the default model, seconds. */
  totalS: number;
  calls: number;
  leapStep: number | null;
  /** Steps whose model call the row's step cache reused (empty without a cache). */
  reusedSteps: number[];
}

/** Where the quality rows run: in this process (default) or on a batch engine (`deno task batch`'s). */
export interface QualityEngine {
  engine?: "inline" | RemoteOptions["engine"];
  workers?: number;
  address?: string;
}

/** The recipe overrides of a quality row. */
function rowOverrides(row: RowSpec, bundleDir: string, dir: string): Record<string, unknown> {
  return {
    bundle: bundleDir,
    sampler: row.sampler,
    token_ops: row.token_ops,
    ...(row.step_cache ? { step_cache: row.step_cache } : {}),
    scheduler: { name: "resident" },
    "output.dir": join(dir, row.name),
    "output.formats": ["gif"],
  };
}

/**
 * Run `rows` (the first is the baseline) on the bundle `bundleDir` with the settings of `recipeFile`, in
 * this process or (`engine: "ray"` / `"local"`) as batch runs on worker processes: the videos, and so the
 * figures other than the times, are the same.
 *
 * @example
 * ```ts ignore
 * const q = await qualityRows("recipes/default.yaml", "models/default", ROWS);
 * q.get("lpl-15")?.ssim;
 * ```
 */
export async function qualityRows(
  recipeFile: string,
  bundleDir: string,
  rows: readonly RowSpec[],
  options: QualityEngine = {},
): Promise<Map<string, QualityRow>> {
  const out = new Map<string, QualityRow>();
  const dir = await Deno.makeTempDir({ prefix: "odsora-bench-quality-" });
  try {
    let runs: { video: Tensor<"float32">; totalS: number; calls: number; decisions: RunEvent[] }[] = [];
    if (options.engine && options.engine !== "inline") {
      const remote = await generateRemote(
        rows.map((row) => ({ recipe: recipeFile, overrides: rowOverrides(row, bundleDir, dir) })),
        { engine: options.engine, workers: options.workers, address: options.address },
      );
      runs = remote.map((r) => ({
        video: r.video,
        totalS: r.seconds,
        calls: r.calls,
        decisions: r.decisions,
      }));
    } else {
      for (const row of rows) {
        const recipe = await loadRecipe(recipeFile, { overrides: rowOverrides(row, bundleDir, dir) });
        const events: RunEvent[] = [];
        const started = performance.now();
        const result = await generate(recipe, { registry: builtins, emit: (e) => void events.push(e) });
        const totalS = (performance.now() - started) / 1000;
        runs.push({ video: result.video, totalS, calls: result.calls, decisions: events });
      }
    }
    const reference = runs[0].video;
    rows.forEach((row, i) => {
      const { video, totalS, calls, decisions } = runs[i];
      const leap = decisions.find((e) => e.type === "decision" && e.data?.leap === true);
      out.set(row.name, {
        ssim: videoSsim(video, reference),
        psnr: videoPsnr(video, reference),
        totalS,
        calls,
        leapStep: leap && leap.type === "decision" ? leap.step : null,
        reusedSteps: decisions.flatMap((e) => (e.type === "cache" && e.reused ? [e.step] : [])),
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return out;
}
