/**
 * Read an evaluation prompt file: one JSON object a line,
 * `{"prompt": "a red circle moving left on a black background", "color": "red", "shape": "circle",
 * "motion": "left", "background": "black"}`, optionally `"heldout": true`; `background` is optional (the
 * attribute is then not scored). Blank lines are skipped.
 *
 * @module
 */
import { OdsoraError } from "../runtime/core/errors.ts";

/** A prompt file or an evaluation option is unusable. */
export class EvalError extends OdsoraError {}

/** One prompt to generate and the attributes its video should show. */
export interface EvalPrompt {
  prompt: string;
  color: string;
  shape: string;
  motion: string;
  background?: string;
  heldout: boolean;
}

/**
 * Parse prompt-file text (`file` names it in messages).
 *
 * @example
 * ```ts
 * import { parsePrompts } from "./prompt_file.ts";
 * const [p] = parsePrompts('{"prompt": "a red circle", "color": "red", "shape": "circle", "motion": "left"}', "x");
 * console.assert(p.heldout === false);
 * ```
 */
export function parsePrompts(text: string, file: string): EvalPrompt[] {
  const out: EvalPrompt[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const where = `Cannot read prompt file '${file}': line ${i + 1}`;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line);
    } catch {
      throw new EvalError(`${where} is not JSON`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      throw new EvalError(`${where} is not an object`);
    }
    for (const k of ["prompt", "color", "shape", "motion"]) {
      if (typeof v[k] !== "string" || !(v[k] as string).trim()) {
        throw new EvalError(`${where} has no string '${k}'`);
      }
    }
    if (v.background !== undefined && (typeof v.background !== "string" || !v.background.trim())) {
      throw new EvalError(`${where} has a 'background' that is not a non-empty string`);
    }
    out.push({
      prompt: v.prompt as string,
      color: v.color as string,
      shape: v.shape as string,
      motion: v.motion as string,
      ...(v.background !== undefined ? { background: v.background as string } : {}),
      heldout: v.heldout === true,
    });
  });
  if (out.length === 0) throw new EvalError(`Cannot read prompt file '${file}': it holds no prompts`);
  return out;
}

/** Read and parse a prompt file. */
export async function readPrompts(file: string): Promise<EvalPrompt[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new EvalError(`Cannot read prompt file '${file}': ${(e as Error).message}`);
  }
  return parsePrompts(text, file);
}
