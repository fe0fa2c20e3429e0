/**
 * Test helper: make sure the default recipe's bundle (or its random fallback) exists before a test runs the
 * recipe, building it under an exclusive file lock so test files running in parallel build it once.
 */
import { join } from "node:path";
import { resolveBundleDir } from "../runtime/cli/fallback_bundle.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";

const ROOT = join(import.meta.dirname!, "..");

/** The bundle folder `recipes/default.yaml` will use, built first if it is the missing fallback. */
export async function defaultBundle(): Promise<string> {
  await Deno.mkdir(join(ROOT, ".odsora-cache"), { recursive: true });
  using lock = await Deno.open(join(ROOT, ".odsora-cache", ".default-bundle.lock"), {
    create: true,
    write: true,
  });
  await lock.lock(true);
  try {
    return await resolveBundleDir(await loadRecipe(join(ROOT, "recipes", "default.yaml")), () => {});
  } finally {
    await lock.unlock();
  }
}
