/**
 * Prompts to token ids as Open-Sora's T5 driver does it, driven by the bundle's `text` settings: append
 * `prompt_suffix` (unless the prompt already carries it), lower-case when asked, tokenize with the
 * bundle's `tokenizer.json` (npm `@huggingface/tokenizers`, special tokens off), append EOS, truncate to
 * `max_length` keeping the EOS (with a warning, as the reference does silently), pad with `pad_id`.
 *
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { join } from "node:path";
import type { Bundle } from "./bundle.ts";
import { BundleError } from "../core/errors.ts";
import type { Tensor } from "../core/types.ts";

/** The bundle's `text` settings this module reads. */
export interface TextSettings {
  max_length: number;
  pad_id: number;
  eos_id: number;
  prompt_suffix: string;
  lowercase: boolean;
}

/** Token ids and attention mask, int64 [n, L] each, plus what was cut. */
export interface PromptTokens {
  inputIds: Tensor<"int64">;
  attentionMask: Tensor<"int64">;
  /** Token count of each prompt including EOS, after truncation. */
  lengths: number[];
  /** One message per prompt that was truncated. */
  warnings: string[];
}

/** Something that turns text into ids (the bundle's tokenizer, or a stand-in in tests). */
export type Encode = (text: string) => number[];

/** The prompt text the tokenizer sees: suffix appended (once), whitespace collapsed, lower-cased if asked. */
export function preparePrompt(prompt: string, settings: TextSettings): string {
  let text = prompt.trim();
  const suffix = settings.prompt_suffix;
  if (suffix.trim() && !text.toLowerCase().includes(suffix.trim().toLowerCase())) text += suffix;
  text = text.replace(/\s+/g, " ").trim();
  return settings.lowercase ? text.toLowerCase() : text;
}

/**
 * Load `tokenizer.json` of a bundle as an {@link Encode} function (special tokens are added by
 * {@link tokenizePrompts}, not by the tokenizer's post-processor).
 */
export async function loadTokenizer(bundle: Bundle): Promise<Encode> {
  const file = bundle.text?.tokenizer;
  if (!file) {
    throw new BundleError(
      `Cannot tokenize prompts: bundle '${bundle.name}' has no tokenizer (a fixture bundle takes input_ids)`,
      bundle.dir,
    );
  }
  const path = join(bundle.dir, file);
  let json: {
    model?: { unk_token?: string; vocab?: unknown };
    added_tokens?: { id: number; content: string }[];
  };
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new BundleError(`Cannot load tokenizer '${path}': ${(e as Error).message}`, bundle.dir, {
      cause: e,
    });
  }
  const byId = new Map<number, string>();
  const vocab = json.model?.vocab;
  if (vocab && !Array.isArray(vocab)) {
    for (const [k, v] of Object.entries(vocab)) {
      byId.set(v as number, k);
    }
  }
  if (Array.isArray(vocab)) vocab.forEach((entry, i) => byId.set(i, (entry as [string, number])[0]));
  for (const t of json.added_tokens ?? []) byId.set(t.id, t.content);
  const config = {
    unk_token: json.model?.unk_token ?? undefined,
    eos_token: byId.get(bundle.text!.eos_id),
    pad_token: byId.get(bundle.text!.pad_id),
  };
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw new BundleError(`Cannot load tokenizer '${path}': ${(e as Error).message}`, bundle.dir, {
      cause: e,
    });
  }
  return (text) => tokenizer.encode(text, { add_special_tokens: false }).ids;
}

/**
 * Token ids and masks for `prompts` (see the module doc).
 *
 * @example
 * ```ts
 * import { tokenizePrompts } from "./tokenize.ts";
 * const words = ["<pad>", "</s>", "a", "red", "circle"];
 * const encode = (s: string) => s.split(" ").map((w) => Math.max(0, words.indexOf(w)));
 * const t = tokenizePrompts(encode, ["A red circle"], { max_length: 6, pad_id: 0, eos_id: 1, prompt_suffix: "", lowercase: true });
 * t.inputIds.data; // BigInt64Array [2n, 3n, 4n, 1n, 0n, 0n]
 * ```
 */
export function tokenizePrompts(
  encode: Encode,
  prompts: readonly string[],
  settings: TextSettings,
): PromptTokens {
  const L = settings.max_length;
  const ids = new BigInt64Array(prompts.length * L).fill(BigInt(settings.pad_id));
  const mask = new BigInt64Array(prompts.length * L);
  const lengths: number[] = [];
  const warnings: string[] = [];
  prompts.forEach((prompt, i) => {
    let seq = [...encode(preparePrompt(prompt, settings)), settings.eos_id];
    if (seq.length > L) {
      warnings.push(
        `prompt ${i + 1} has ${seq.length} tokens (EOS included), the text encoder takes ${L}: ` +
          `truncated to ${L} (the last ${seq.length - L} tokens are dropped)`,
      );
      seq = [...seq.slice(0, L - 1), settings.eos_id];
    }
    seq.forEach((id, j) => {
      ids[i * L + j] = BigInt(id);
      mask[i * L + j] = 1n;
    });
    lengths.push(seq.length);
  });
  const dims = [prompts.length, L];
  return {
    inputIds: { dtype: "int64", dims, data: ids },
    attentionMask: { dtype: "int64", dims, data: mask },
    lengths,
    warnings,
  };
}
