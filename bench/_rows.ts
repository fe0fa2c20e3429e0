/**
 * The bench's rows: each a sampler, token ops and a memory scheduler written as recipe plugin specs (so
 * the same row drives the speed run on the denoiser bundle and, through a recipe, the quality run on the
 * default model). Budgets are recipe budget strings ("50%" = half the stage's block bytes).
 *
 * @module
 */
import type { PluginSpec } from "../runtime/recipe/recipe.ts";
import { tdtmKeyFrames, tdtmPaper, TEACACHE_WITH_ALL } from "../eval/variants.ts";

/** One bench row. */
export interface RowSpec {
  name: string;
  sampler: PluginSpec;
  token_ops: PluginSpec[];
  scheduler: PluginSpec & { budget?: string | null };
  /** A step cache (absent: every model call computed). */
  step_cache?: PluginSpec;
}

const euler = { name: "euler" };
const resident = { name: "resident" };
const lpl15 = { name: "lpl", leapAt: 15 };
const cidl = (budget: string) => ({ name: "ci-dl", budget });
/**
 * TeaCache at the threshold chosen on the default model (models/default, default prompt and two others,
 * 30 Euler steps): 0.3 computes 9 of 30 calls at SSIM ≥ 0.996 against the uncached video; 0.5 computes 7
 * (SSIM 0.96–0.99) but held-out shapes fell to 88% in the strict evaluation; 0.8 drops SSIM to 0.84. The
 * rescaling polynomial is the default model's fit (plugins/step_cache/teacache_fit.json).
 */
const teacache = { name: "teacache", threshold: 0.3 };

/** The rows, baseline first (the 30-step resident Euler run every ratio is against). */
export const ROWS: RowSpec[] = [
  { name: "baseline", sampler: euler, token_ops: [], scheduler: resident },
  { name: "lpl-15", sampler: lpl15, token_ops: [], scheduler: resident },
  {
    name: "lpl-dynamic",
    sampler: { name: "lpl-dynamic", preset: "paper" },
    token_ops: [],
    scheduler: resident,
  },
  {
    name: "lpl-dynamic-reference",
    sampler: { name: "lpl-dynamic", preset: "reference" },
    token_ops: [],
    scheduler: resident,
  },
  { name: "tdtm-15", sampler: euler, token_ops: [tdtmKeyFrames(15)], scheduler: resident },
  { name: "tdtm-15-paper", sampler: euler, token_ops: [tdtmPaper(15)], scheduler: resident },
  { name: "tdtm-30", sampler: euler, token_ops: [tdtmKeyFrames(30)], scheduler: resident },
  { name: "sequential", sampler: euler, token_ops: [], scheduler: { name: "sequential" } },
  { name: "concurrent", sampler: euler, token_ops: [], scheduler: { name: "concurrent" } },
  { name: "cidl-100", sampler: euler, token_ops: [], scheduler: cidl("100%") },
  { name: "cidl-50", sampler: euler, token_ops: [], scheduler: cidl("50%") },
  { name: "cidl-25", sampler: euler, token_ops: [], scheduler: cidl("25%") },
  { name: "all", sampler: lpl15, token_ops: [tdtmKeyFrames(15)], scheduler: cidl("50%") },
  { name: "cache", sampler: euler, token_ops: [], scheduler: resident, step_cache: teacache },
  {
    name: "all-cache",
    sampler: lpl15,
    token_ops: [tdtmKeyFrames(15)],
    // the last block stays resident too when it fits, so a reused call loads nothing
    scheduler: { ...cidl("50%"), residentLast: true },
    step_cache: TEACACHE_WITH_ALL,
  },
];

/** Where a speed row's reused calls come from. */
export type CacheSource = "trained-model" | "speed-bundle" | null;

/**
 * The step cache a row's speed run uses. A cache decides from how the model's input changes, and on the
 * random-weight speed bundle that means nothing: when the quality half ran the row on the trained default
 * model, the speed run replays the steps the cache reused there as a `fixed` list (the same reused calls).
 * Without a trained run the row's own cache decides on the speed bundle.
 *
 * @example
 * ```ts
 * import { ROWS, speedStepCache } from "./_rows.ts";
 * const row = ROWS.find((r) => r.name === "cache")!;
 * speedStepCache(row, [2, 3]); // { stepCache: { name: "fixed", steps: [2, 3] }, cacheSource: "trained-model" }
 * ```
 */
export function speedStepCache(
  row: RowSpec,
  trainedReused: readonly number[] | undefined,
): { stepCache: PluginSpec | null; cacheSource: CacheSource } {
  if (!row.step_cache) return { stepCache: null, cacheSource: null };
  if (trainedReused === undefined) return { stepCache: row.step_cache, cacheSource: "speed-bundle" };
  return { stepCache: { name: "fixed", steps: [...trainedReused] }, cacheSource: "trained-model" };
}

/** Where a speed row's leap step comes from. */
export type LeapSource = "trained-model" | "speed-bundle" | null;

/**
 * The sampler a row's speed run uses. A dynamic-LPL row decides its leap from the drifts' cosines, and on
 * the random-weight speed bundle those mean nothing: when the quality half ran the row on the trained
 * default model, the speed run leaps at the step dynamic LPL chose there (`lpl` with that `leapAt`, the
 * same model calls; Euler when it never leapt). Without a trained run it decides on the speed bundle.
 *
 * @example
 * ```ts
 * import { ROWS, speedSampler } from "./_rows.ts";
 * const row = ROWS.find((r) => r.name === "lpl-dynamic")!;
 * speedSampler(row, 19); // { sampler: { name: "lpl", leapAt: 19 }, leapSource: "trained-model" }
 * ```
 */
export function speedSampler(
  row: RowSpec,
  trainedLeap: number | null | undefined,
): { sampler: PluginSpec; leapSource: LeapSource } {
  if (row.sampler.name !== "lpl-dynamic") return { sampler: row.sampler, leapSource: null };
  if (trainedLeap === undefined) return { sampler: row.sampler, leapSource: "speed-bundle" };
  return {
    sampler: trainedLeap === null ? euler : { name: "lpl", leapAt: trainedLeap },
    leapSource: "trained-model",
  };
}
