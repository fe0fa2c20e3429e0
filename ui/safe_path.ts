/**
 * The only ways a request reaches the file system: a recipe by name inside the recipes folder, and a run's
 * output files inside the output folder. Both resolve symlinks and refuse anything that leaves the root.
 *
 * @module
 */
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { realpathSync } from "node:fs";
import { RecipeName } from "./run_request.ts";

/** A request named a path outside the folder it may read. */
export class PathError extends Error {
  override name = "PathError";
}

/**
 * `path` (absolute or relative to the cwd) resolved through symlinks, if it lies inside `root`; else throws
 * {@link PathError}. The root itself does not count as inside.
 *
 * @example
 * ```ts
 * const file = insideRoot("out/ui", "out/ui/r123456/video.mp4");
 * ```
 */
export function insideRoot(root: string, path: string): string {
  const realRoot = realpathSync(root);
  let real: string;
  try {
    real = realpathSync(resolve(path));
  } catch {
    throw new PathError(`Cannot read "${basename(path)}": no such file`);
  }
  const rel = relative(realRoot, real);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new PathError(`Cannot read "${basename(path)}": it is outside "${basename(realRoot)}"`);
  }
  return real;
}

/**
 * The file of recipe `name` (`<recipesDir>/<name>.yaml`), checked to be a plain recipe name and to lie inside
 * `recipesDir`; throws {@link PathError} otherwise.
 */
export function recipeFile(recipesDir: string, name: string): string {
  if (!RecipeName.safeParse(name).success) {
    throw new PathError(`Cannot find recipe "${name}": not a recipe name`);
  }
  try {
    return insideRoot(recipesDir, join(recipesDir, `${name}.yaml`));
  } catch {
    throw new PathError(`Cannot find recipe "${name}": no such file in recipes/`);
  }
}
