/**
 * The named errors of odsora. Messages follow "Cannot <action>: <current state>" with values quoted, so
 * the CLI can print one line; callers tell the kinds apart with `instanceof`.
 *
 * @module
 */

/** Base class of every odsora error (the CLI prints `message` and exits non-zero). */
export class OdsoraError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A bundle folder cannot be used: missing, wrong schema, invalid manifest, missing stage or file.
 *
 * @example
 * ```ts
 * import { BundleError } from "./errors.ts";
 * const e = new BundleError("Cannot load bundle: 'x/bundle.json' does not exist", "x");
 * console.assert(e.dir === "x");
 * ```
 */
export class BundleError extends OdsoraError {
  constructor(message: string, readonly dir: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * A recipe cannot be used; names the file, the key path and the line when known.
 *
 * @example
 * ```ts
 * import { RecipeError } from "./errors.ts";
 * const e = new RecipeError("Cannot read recipe: 'steps' must be a number", { file: "a.yaml", path: "steps", line: 3 });
 * console.assert(e.line === 3);
 * ```
 */
export class RecipeError extends OdsoraError {
  readonly file: string | null;
  readonly path: string | null;
  readonly line: number | null;
  constructor(
    message: string,
    where: { file?: string | null; path?: string | null; line?: number | null } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.file = where.file ?? null;
    this.path = where.path ?? null;
    this.line = where.line ?? null;
  }
}

/**
 * A plugin cannot be resolved, configured or run; names the plugin and the hook
 * (`resolve`, `options`, `create`, or a runtime hook such as `sample`, `operators`, `plan`).
 *
 * @example
 * ```ts
 * import { PluginError } from "./errors.ts";
 * const e = new PluginError("Cannot resolve sampler 'foo': no built-in has that name", "foo", "resolve");
 * console.assert(e.hook === "resolve");
 * ```
 */
export class PluginError extends OdsoraError {
  constructor(message: string, readonly plugin: string, readonly hook: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * An executor failed on a block (corrupt ONNX file, shape mismatch, crashed lane); names the backend,
 * the block and the underlying cause.
 *
 * @example
 * ```ts
 * import { ExecutorError } from "./errors.ts";
 * const e = new ExecutorError("Cannot load block 'denoiser/embed': file is truncated", "local", "denoiser/embed");
 * console.assert(e.backend === "local");
 * ```
 */
export class ExecutorError extends OdsoraError {
  constructor(
    message: string,
    readonly backend: string,
    readonly block: string | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A memory budget cannot hold what a plan needs; thrown by schedulers before any work.
 *
 * @example
 * ```ts
 * import { BudgetError } from "./errors.ts";
 * const e = new BudgetError("Cannot plan stage 'vae': needs '2.0 MiB', budget is '1.0 MiB'", 2097152, 1048576);
 * console.assert(e.neededBytes > e.budgetBytes);
 * ```
 */
export class BudgetError extends OdsoraError {
  constructor(
    message: string,
    readonly neededBytes: number,
    readonly budgetBytes: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A stage cannot run on the tensors it was given (a block input missing from the environment, a wrong
 * shape handed to the denoiser).
 *
 * @example
 * ```ts
 * import { StageError } from "./errors.ts";
 * const e = new StageError("Cannot run block 'denoiser/embed': input 'x' is not in the environment", "denoiser");
 * console.assert(e.stage === "denoiser");
 * ```
 */
export class StageError extends OdsoraError {
  constructor(message: string, readonly stage: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Format a byte count for messages, e.g. `'12.5 MiB'` (quoted, per the message rules). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `'${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}'`;
}
