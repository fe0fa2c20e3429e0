/**
 * The evaluation's recipe variants: the recipe as written, and the paper's techniques applied to it
 * (LPL leaping at 15 of 30 steps, TDTM merging for the first 15 steps, and all three with CI-DL streaming
 * within a budget below what the stage holds), and a step cache alone and with all three.
 *
 * TDTM merges with each temporal-VAE chunk's key frame kept alone and the merged tokens at their frames' mean
 * time (`chunk: 5, positions: time`, plugins/tdtm.ts): on the default model the authors' merge breaks the
 * second chunk's colour and background. `tdtm-15-paper` and `all-paper` keep the authors' merge measured.
 *
 * @module
 */
import { EvalError } from "./prompt_file.ts";

/**
 * TDTM as the variants and the bench's rows run it: each temporal-VAE chunk's key frame alone, merged tokens
 * at their mean time, for the first `mergeSteps` model calls.
 */
export const tdtmKeyFrames = (mergeSteps: number) => ({
  name: "tdtm",
  mergeSteps,
  chunk: 5,
  positions: "time",
});
/** The authors' TDTM: frame pairs from the first frame, merged token j at position j. */
export const tdtmPaper = (mergeSteps: number) => ({ name: "tdtm", mergeSteps });
/**
 * TeaCache with the three techniques (`all-cache`, here and in the bench): 0.2, where TeaCache alone runs at
 * 0.3: TDTM's merged steps decide colour and background, so fewer calls may be reused there (at 0.3 the
 * strict evaluation's background fell to 94%, README "Evaluation").
 */
export const TEACACHE_WITH_ALL = { name: "teacache", threshold: 0.2 };

const TDTM_15 = tdtmKeyFrames(15);
const TDTM_15_PAPER = tdtmPaper(15);

// 128 MiB for the denoiser stage at 34 frames (what it adds over its start; a run budget would also hold
// the lanes' start-up, ~46 MiB here): the default model's denoiser weights (9.9 MB) plus the working
// memory of a batch of 8 prompts with CFG do not fit, so blocks stream and the first ones stay resident
// when the measured costs leave room.
const streamed = { name: "ci-dl", budget: { denoiser: "128MiB" }, prefetch: 1 };

/** Recipe overrides (dotted key paths) that turn the base recipe into each variant. */
export const VARIANTS: Readonly<Record<string, Record<string, unknown>>> = {
  default: {},
  "lpl-15": { sampler: { name: "lpl", leapAt: 15 } },
  "tdtm-15": { token_ops: [TDTM_15] },
  "tdtm-15-paper": { token_ops: [TDTM_15_PAPER] },
  all: { sampler: { name: "lpl", leapAt: 15 }, token_ops: [TDTM_15], scheduler: streamed },
  "all-paper": { sampler: { name: "lpl", leapAt: 15 }, token_ops: [TDTM_15_PAPER], scheduler: streamed },
  // TeaCache at the bench's threshold (bench/_rows.ts): reuse the last residual while the model's input
  // has barely changed
  cache: { step_cache: { name: "teacache", threshold: 0.3 } },
  "all-cache": {
    sampler: { name: "lpl", leapAt: 15 },
    token_ops: [TDTM_15],
    scheduler: { ...streamed, residentLast: true },
    step_cache: TEACACHE_WITH_ALL,
  },
};

/** The clip length the fixed budgets of {@link VARIANTS} are sized for (the default recipe's). */
export const BUDGET_FRAMES = 34;

/**
 * The overrides of variant `name` for a recipe of `frames` frames (null: the bundle's default, taken as
 * {@link BUDGET_FRAMES}). A denoiser budget in MiB scales with the clip length as (frames / 34)^2: a block
 * call's working memory grows with the latent frames, its temporal attention with their square (128 MiB at 34
 * frames, 32 MiB at 17). Measured at 34 frames on 8 prompts: the stage holds ~82 MiB outside its blocks
 * (a batch of 16 latent streams' hidden states); at 68 MiB one block at a time crossed the budget at the 4th
 * pass, 96 MiB held on one machine and not in the eval's worker processes, 128 MiB holds with ~34 MiB to
 * spare and still streams (6 of 10 blocks resident).
 *
 * @example
 * ```ts
 * import { variantOverrides } from "./variants.ts";
 * (variantOverrides("all", 17).scheduler as { budget: { denoiser: string } }).budget.denoiser; // "32MiB"
 * ```
 */
export function variantOverrides(name: string, frames: number | null): Record<string, unknown> {
  const v = structuredClone(VARIANTS[name]) as Record<string, unknown>;
  const scheduler = v.scheduler as { budget?: { denoiser?: string } } | undefined;
  const mib = scheduler?.budget?.denoiser?.match(/^(\d+(?:\.\d+)?)MiB$/);
  if (mib && frames !== null && frames !== BUDGET_FRAMES) {
    scheduler!.budget!.denoiser = `${Math.ceil(Number(mib[1]) * (frames / BUDGET_FRAMES) ** 2)}MiB`;
  }
  return v;
}

/** Parse a comma-separated variant list ("default,lpl-15" or "every"). */
export function parseVariants(list: string): string[] {
  const names = list === "every"
    ? Object.keys(VARIANTS)
    : list.split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(n in VARIANTS)) {
      throw new EvalError(
        `Cannot pick variant '${n}': use one of ${Object.keys(VARIANTS).join(", ")} or 'every'`,
      );
    }
  }
  if (names.length === 0) throw new EvalError(`Cannot pick variants: '${list}' names none`);
  return names;
}
