/**
 * The text stage: prompts → token ids (runtime/tokenize.ts) → the bundle's text blocks (one pass, all
 * prompts batched) → y [n, L, Cc] and its mask, plus the null caption for classifier-free guidance.
 *
 * @module
 */
import { type Bundle, nullCaption, stageOf } from "./bundle.ts";
import { StageError } from "./errors.ts";
import { openStage } from "./stage.ts";
import { loadTokenizer, type PromptTokens, tokenizePrompts } from "./tokenize.ts";
import type { Budget, Emit, Executor, MemoryScheduler, Plan, Tensor } from "./types.ts";

/** What the denoiser needs from the text side. */
export interface TextConditioning {
  /** T5 output [n, L, Cc]. */
  y: Tensor<"float32">;
  /** Attention mask [n, L] int64 (1 = token). */
  mask: Tensor<"int64">;
  /** The null caption [L, Cc] (STDiT3's learned `y_embedding`). */
  yNull: Tensor<"float32">;
  tokens: PromptTokens;
  /** The scheduler's plan for the text stage. */
  plan: Plan;
}

/** Options of {@link encodeText}. */
export interface EncodeTextOptions {
  bundle: Bundle;
  prompts: readonly string[];
  executor: Executor;
  scheduler: MemoryScheduler;
  budget: Budget;
  emit: Emit;
  signal?: AbortSignal;
  origin?: number;
  /** Called with each warning (a truncated prompt). */
  warn?: (message: string) => void;
}

/**
 * Encode prompts with the bundle's tokenizer and text blocks.
 *
 * @example
 * ```ts ignore
 * const { y, mask, yNull } = await encodeText({ bundle, prompts: ["a red circle"], executor, scheduler,
 *   budget: { bytes: null }, emit: () => {} });
 * ```
 */
export async function encodeText(o: EncodeTextOptions): Promise<TextConditioning> {
  const text = stageOf(o.bundle, "text");
  const encode = await loadTokenizer(o.bundle);
  const tokens = tokenizePrompts(encode, o.prompts, text);
  for (const w of tokens.warnings) o.warn?.(w);
  const yNull = await nullCaption(o.bundle);
  const runner = await openStage({
    bundle: o.bundle,
    stage: "text",
    executor: o.executor,
    scheduler: o.scheduler,
    budget: o.budget,
    passes: 1,
    emit: o.emit,
    signal: o.signal,
    origin: o.origin,
  });
  let y: Tensor | undefined;
  try {
    const env = await runner.run({
      [text.inputs[0]]: tokens.inputIds,
      [text.inputs[1]]: tokens.attentionMask,
    }, 0);
    y = env[text.output];
  } finally {
    await runner.close();
  }
  const [n, L] = tokens.inputIds.dims;
  if (!y || y.dtype !== "float32" || y.dims.length !== 3 || y.dims[0] !== n || y.dims[1] !== L) {
    throw new StageError(
      `Cannot encode text: output '${text.output}' has dims '${
        JSON.stringify(y?.dims)
      }', expected [${n}, ${L}, Cc]`,
      "text",
    );
  }
  if (y.dims[2] !== text.caption_channels || yNull.dims[1] !== text.caption_channels) {
    throw new StageError(
      `Cannot encode text: caption channels '${y.dims[2]}' (y) / '${
        yNull.dims[1]
      }' (null caption) differ from ` +
        `the bundle's '${text.caption_channels}'`,
      "text",
    );
  }
  return { y: y as Tensor<"float32">, mask: tokens.attentionMask, yNull, tokens, plan: runner.plan };
}
