/**
 * Atomic file output: everything is written to a temporary name in the target folder and renamed into
 * place, so a failed or cancelled run never leaves a half-written file behind.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** A temporary path beside `path` (same folder, so the final rename is atomic). */
export function tempPathFor(path: string): string {
  const tag = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  return join(dirname(path), `.${basename(path)}.${tag}.tmp`);
}

/** Remove a path if it exists (file or folder), ignoring "not found". */
export async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Write `data` to `path` atomically (temp file + rename).
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic.ts";
 * await writeFileAtomic(await Deno.makeTempFile(), new Uint8Array([1, 2, 3]));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const temp = tempPathFor(path);
  try {
    await Deno.writeFile(temp, data);
    await Deno.rename(temp, path);
  } catch (e) {
    await removeQuietly(temp);
    throw e;
  }
}

/**
 * Produce a file or folder at `path` atomically: `write(temp)` fills a temporary path beside it, which is
 * then renamed into place (replacing an existing file; an existing folder is removed first).
 */
export async function produceAtomic(path: string, write: (temp: string) => Promise<void>): Promise<void> {
  const temp = tempPathFor(path);
  try {
    await write(temp);
    const info = await Deno.stat(path).catch(() => null);
    if (info?.isDirectory) await removeQuietly(path);
    await Deno.rename(temp, path);
  } catch (e) {
    await removeQuietly(temp);
    throw e;
  }
}
