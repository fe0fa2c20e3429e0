/**
 * The text stage: prompts → token ids (runtime/bundle/tokenize.ts) → the bundle's text blocks (one pass, all
 * prompts batched) → y [n, L, Cc] and its mask, plus the null caption for classifier-free guidance.
 *
 * @module
 */
import { type Bundle, nullCaption, stageOf } from "../bundle/bundle.ts";
import { StageError } from "../core/errors.ts";
import type { RunContext } from "../core/run_context.ts";
import { openStage } from "../core/stage.ts";
import { loadTokenizer, type PromptTokens, tokenizePrompts } from "../bundle/tokenize.ts";
import type { Budget, Plan, StageInfo, Tensor } from "../core/types.ts";
import type { TextStage } from "../core/manifest.ts";
import { textWorkBytes } from "../core/work_estimate.ts";

const PAGE = 4096;

/**
 * Bytes a token-embedding block holds after a run over `tokens` tokens: its weights stay memory-mapped
 * (not faulted in), so only the rows the tokens touch (at most two pages each) and the rest of its
 * parameters (the position bias) become resident. The table is the block's parameters in whole rows of
 * `channels`.
 *
 * @example
 * ```ts
 * import { sparseEmbeddingBytes } from "./text_stage.ts";
 * sparseEmbeddingBytes({ bytes: 65802901, params: 16449664 }, 512, 64); // ≈ 0.5 MiB, not 63 MiB
 * ```
 */
export function sparseEmbeddingBytes(
  block: { bytes: number; params?: number },
  channels: number,
  tokens: number,
): number {
  const params = block.params ?? 0;
  const rows = Math.floor(params / channels);
  const rest = params > 0 ? block.bytes * (1 - (rows * channels) / params) : block.bytes;
  return Math.min(block.bytes, Math.ceil(rest) + tokens * 2 * PAGE);
}

/** The text blocks that look tokens up (they read the stage's token ids): their weights are read sparsely. */
export function lookupBlocks(text: TextStage): Set<string> {
  return new Set(
    text.blocks.filter((b) => b.inputs.some((i) => i.name === text.inputs[0])).map((b) => b.name),
  );
}

/** Attention heads of the text encoder, from the position bias an embedding block outputs ([B, H, L, L]). */
function textHeads(text: TextStage): number {
  for (const b of text.blocks) {
    for (const o of b.outputs) {
      if (o.dims.length === 4 && typeof o.dims[1] === "number") return o.dims[1];
    }
  }
  return 64;
}

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

/**
 * What the text stage holds besides its blocks' working memory, for `n` prompts of `L` tokens: the sparse
 * blocks and their touched bytes, and the fixed bytes of its outputs (y, its copy into the environment,
 * the wire copy of each block's inputs: three hidden states).
 */
export function textMemory(text: TextStage, n: number, L: number) {
  const sparse = lookupBlocks(text);
  const blockBytes: Record<string, number> = {};
  for (const b of text.blocks) {
    if (sparse.has(b.name)) blockBytes[b.name] = sparseEmbeddingBytes(b, text.caption_channels, n * L);
  }
  return { sparse, blockBytes, fixed: 3 * 4 * n * L * text.caption_channels };
}

/** The text stage as its planner sees it for `n` prompts padded to `L` tokens (preflight). */
export function textStageInfo(text: TextStage, n: number, L: number): { info: StageInfo; fixed: number } {
  const { blockBytes, fixed } = textMemory(text, n, L);
  const work = textWorkBytes({
    prompts: n,
    tokens: L,
    channels: text.caption_channels,
    heads: textHeads(text),
  });
  const blocks = text.blocks.map((b) => ({
    name: b.name,
    bytes: blockBytes[b.name] ?? b.bytes,
    workBytes: work,
  }));
  return { info: { stage: "text", blocks, passes: 1 }, fixed };
}

/** Options of {@link encodeText}. */
export interface EncodeTextOptions extends RunContext {
  bundle: Bundle;
  prompts: readonly string[];
  budget: Budget;
  /** Called with each warning (a truncated prompt). */
  warn?: (message: string) => void;
  /**
   * The run's budget source: called once the tokenizer is loaded with the bytes the stage adds outside its
   * blocks (its outputs and their copies); replaces `budget`.
   */
  budgetFor?: (fixedBytes: number) => Budget;
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
  const [n, L] = tokens.inputIds.dims;
  const { sparse, blockBytes, fixed } = textMemory(text, n, L);
  const runner = await openStage({
    bundle: o.bundle,
    stage: "text",
    executor: o.executor,
    scheduler: o.scheduler,
    budget: o.budgetFor ? o.budgetFor(fixed) : o.budget,
    passes: 1,
    workBytes: textWorkBytes({
      prompts: n,
      tokens: L,
      channels: text.caption_channels,
      heads: textHeads(text),
    }),
    sparse,
    blockBytes,
    startLanes: o.startLanes,
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
