/**
 * The request bodies the preview UI accepts, as zod schemas. Every body is validated here before anything
 * else looks at it; names that end up near the file system are plain identifiers (no `/`, no `..`).
 *
 * @module
 */
import { z } from "zod";

/** A recipe name: the stem of a file in `recipes/` (letters, digits, `.`, `_`, `-`; no `/`, no `..`). */
export const RecipeName = z.string().regex(
  /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  "must be a recipe name from recipes/ (letters, digits, '.', '_' or '-')",
);

/** A built-in plugin name (never a module path: user modules are for recipes on disk, not requests). */
export const PluginName = z.string().regex(/^[a-z][a-z0-9-]{0,47}$/, "must be a built-in plugin name");

/** Plugin options from the form: flat scalars; the plugin's own schema checks them afterwards. */
export const PluginOptions = z.record(
  z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,47}$/),
  z.union([z.number(), z.boolean(), z.string().max(200)]),
);

/** The body of `POST /api/runs`: a recipe by name plus the knobs the page exposes. */
export const RunRequest = z.strictObject({
  recipe: RecipeName,
  prompt: z.string().trim().min(1, "must not be empty").max(2000),
  seed: z.int().min(0).max(2 ** 32 - 1).optional(),
  steps: z.int().min(1).max(1000).optional(),
  sampler: z.strictObject({ name: PluginName, options: PluginOptions.default({}) }).optional(),
  /** The token ops to use, in order (built-ins by name, options checked by each plugin's schema); [] = none. */
  tokenOps: z.array(z.strictObject({ name: PluginName, options: PluginOptions.default({}) })).max(8)
    .optional(),
  scheduler: z.strictObject({
    name: PluginName,
    options: PluginOptions.default({}),
    /** The memory budget in the recipe's syntax ("512MiB", "3.3GB", "50%"); null = unlimited. */
    budget: z.string().max(32).nullable().optional(),
  }).optional(),
});

/** A validated {@link RunRequest} body. */
export type RunRequest = z.infer<typeof RunRequest>;

/** The id of a run: what `POST /api/runs` returns and every run URL carries. */
export const RunId = z.string().regex(/^r[0-9a-z]{6,24}$/, "must be a run id");

/**
 * One line naming every problem of a failed parse, e.g. `steps: Too small: expected number to be >=1`.
 *
 * @example
 * ```ts
 * const result = RunRequest.safeParse({});
 * if (!result.success) console.log(describeIssues(result.error));
 * ```
 */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join(".") : "body";
    return `${where}: ${issue.message}`;
  }).join("; ");
}
