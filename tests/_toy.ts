/**
 * The toy denoiser bundle loaded with its torch reference (tests only).
 *
 * @module
 */
import { join } from "node:path";
import { type Bundle, loadBundle } from "../runtime/bundle/bundle.ts";
import { readSafetensors } from "../runtime/bundle/safetensors.ts";
import type { TensorMap } from "../runtime/core/types.ts";
import { toyDenoiserBundle } from "./_bundles.ts";

/** The toy bundle, its expected tensors, and the recorded first model call's stage inputs. */
export async function loadToy(): Promise<{ bundle: Bundle; expected: TensorMap; call0: TensorMap }> {
  const dir = await toyDenoiserBundle();
  const bundle = await loadBundle(dir);
  const expected = await readSafetensors(join(dir, "expected.safetensors"));
  const call0: TensorMap = {};
  for (const [k, v] of Object.entries(expected)) {
    if (k.startsWith("call0.") && k !== "call0.out") call0[k.slice(6)] = v;
  }
  return { bundle, expected, call0 };
}
