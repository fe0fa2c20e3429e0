/**
 * The recipe's `bundle_fallback`: when the named bundle folder has no bundle.json (e.g. the trained default
 * model is not shipped yet), build a random-weight bundle once with the exporter
 * (`scripts/py -m export random --config PRESET --tokenizer <the default model's word tokenizer>`) into
 * the fallback folder, and use it — with a warning, since its videos are noise. Without a fallback, a
 * recipe's `bundle_build` command is what the missing-bundle error tells the user to run. This shells out to
 * Python, so it runs at the edge (the CLI, the UI, test helpers) before a run, never inside one.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { BUNDLE_SCHEMA } from "../bundle/bundle.ts";
import { BundleError } from "../core/errors.ts";
import type { Recipe } from "../recipe/recipe.ts";

const ROOT = join(import.meta.dirname!, "..", "..");

async function python(args: string[]): Promise<void> {
  const out = await new Deno.Command(join(ROOT, "scripts", "py"), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
    throw new Error(lines[lines.length - 1] || `exit code ${out.code}`);
  }
}

/** Whether a bundle.json exists with the schema this runtime reads (an older fallback is rebuilt). */
function readableSchema(path: string): boolean {
  try {
    return JSON.parse(Deno.readTextFileSync(path)).schema === BUNDLE_SCHEMA;
  } catch {
    return false;
  }
}

const WORD_TOKENIZER = "import sys; from pathlib import Path; " +
  "from export.world.tokenizer_words import build_tokenizer, save_tokenizer; " +
  "save_tokenizer(build_tokenizer(), Path(sys.argv[1]))";

/**
 * The bundle folder a run should load: the recipe's, or its fallback (built here if needed).
 *
 * @example
 * ```ts ignore
 * const dir = await resolveBundleDir(recipe, (m) => console.warn(m));
 * const bundle = await loadBundle(dir);
 * ```
 */
export async function resolveBundleDir(recipe: Recipe, warn: (message: string) => void): Promise<string> {
  const fallback = recipe.bundleFallback;
  if (existsSync(join(recipe.bundle, "bundle.json"))) return recipe.bundle;
  if (!fallback && recipe.bundleBuild) {
    throw new BundleError(
      `Cannot load bundle: '${
        join(recipe.bundle, "bundle.json")
      }' does not exist; build it with \`${recipe.bundleBuild}\``,
      recipe.bundle,
    );
  }
  if (!fallback) return recipe.bundle;
  const shown = relative(Deno.cwd(), fallback.dir) || ".";
  const missing = `'${relative(Deno.cwd(), join(recipe.bundle, "bundle.json"))}' is missing`;
  if (readableSchema(join(fallback.dir, "bundle.json"))) {
    warn(
      `${missing}: using the random-weight '${fallback.random}' bundle at '${shown}' (its videos are noise)`,
    );
    return fallback.dir;
  }
  warn(
    `${missing}: building a random-weight '${fallback.random}' bundle at '${shown}' with the exporter ` +
      `(first run: sets up Python and takes a minute or more; its videos are noise)`,
  );
  await Deno.mkdir(dirname(fallback.dir), { recursive: true });
  const tokenizer = join(dirname(fallback.dir), `.words-tokenizer-${Deno.pid}.json`);
  try {
    await python(["-c", WORD_TOKENIZER, tokenizer]);
    await python([
      ...["-m", "export", "random", "--config", fallback.random, "--tokenizer", tokenizer],
      ...["--out", fallback.dir, "--name", `default-random-${fallback.random}`, "--threads", "1", "--quiet"],
    ]);
  } catch (e) {
    throw new BundleError(
      `Cannot build the fallback bundle '${shown}': ${(e as Error).message}; ` +
        `build a bundle with \`scripts/py -m export random --config ${fallback.random} --out DIR\``,
      fallback.dir,
      { cause: e },
    );
  } finally {
    await Deno.remove(tokenizer).catch(() => {});
  }
  return fallback.dir;
}

/**
 * `recipe` with its `bundle` folder resolved by {@link resolveBundleDir} (the fallback built if needed).
 *
 * @example
 * ```ts ignore
 * const result = await generate(await withFallbackBundle(recipe, console.warn), { registry: builtins });
 * ```
 */
export async function withFallbackBundle(recipe: Recipe, warn: (message: string) => void): Promise<Recipe> {
  const bundle = await resolveBundleDir(recipe, warn);
  return bundle === recipe.bundle ? recipe : { ...recipe, bundle };
}
