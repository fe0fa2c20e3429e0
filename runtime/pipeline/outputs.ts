/**
 * A run's output files, all or nothing: a hidden pending folder is created in the output folder before
 * any model work (so an unwritable path fails fast), every file is written there, and only a finished run
 * renames them into place. A failed or cancelled run removes the pending folder and leaves nothing.
 *
 * @module
 */
import { join } from "node:path";
import { removeQuietly } from "../media/atomic.ts";
import { OdsoraError } from "../core/errors.ts";
import { framesFromVideo } from "../media/frames.ts";
import { writeGif } from "../media/gif.ts";
import { writePngFrames } from "../media/png.ts";
import type { Tensor } from "../core/types.ts";
import { writeMp4 } from "../media/video.ts";

/** An output folder or file cannot be written. */
export class OutputError extends OdsoraError {
  constructor(message: string, readonly path: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The formats a run can write. */
export type Format = "mp4" | "gif" | "png";

/** A pending folder inside the output folder. */
export interface PendingOutputs {
  /** The output folder. */
  readonly dir: string;
  /** The hidden pending folder (same file system, so commits are renames). */
  readonly temp: string;
  /** Names staged so far (relative to both folders). */
  readonly names: string[];
  /** Move every staged entry into the output folder, replacing same-named ones; then drop the pending folder. */
  commit(): Promise<void>;
  /** Remove the pending folder and everything in it (and the output folder if this run made it empty). */
  discard(): Promise<void>;
}

/**
 * Create the output folder (with parents) and a pending folder in it.
 *
 * @example
 * ```ts
 * import { openPending } from "./outputs.ts";
 * const pending = await openPending(await Deno.makeTempDir());
 * await pending.discard();
 * ```
 */
export async function openPending(dir: string): Promise<PendingOutputs> {
  let temp: string;
  const existed = await Deno.stat(dir).then(() => true, () => false);
  try {
    await Deno.mkdir(dir, { recursive: true });
    temp = await Deno.makeTempDir({ dir, prefix: ".odsora-pending-" });
  } catch (e) {
    const why = e instanceof Deno.errors.PermissionDenied ? "permission denied" : (e as Error).message;
    throw new OutputError(`Cannot write output: folder '${dir}' is not writable (${why})`, dir, { cause: e });
  }
  const names: string[] = [];
  return {
    dir,
    temp,
    names,
    async commit() {
      const done: string[] = [];
      try {
        for (const name of names) {
          const target = join(dir, name);
          const info = await Deno.stat(target).catch(() => null);
          if (info?.isDirectory) await removeQuietly(target);
          await Deno.rename(join(temp, name), target);
          done.push(target);
        }
      } catch (e) {
        for (const target of done) await removeQuietly(target);
        await removeQuietly(temp);
        throw new OutputError(
          `Cannot write output: moving files into '${dir}' failed (${(e as Error).message})`,
          dir,
          {
            cause: e,
          },
        );
      }
      await removeQuietly(temp);
    },
    async discard() {
      await removeQuietly(temp);
      // an output folder this run created goes too when it is empty (Deno.remove refuses a non-empty one)
      if (!existed) await Deno.remove(dir).catch(() => {});
    },
  };
}

/** The file name stem of sample `index` of `count`: `name`, or `name_0000`, `name_0001`, ... */
export function sampleStem(name: string, index: number, count: number): string {
  return count === 1 ? name : `${name}_${String(index).padStart(4, "0")}`;
}

/**
 * Stage every sample of a decoded video [n, 3, F, H, W] in each format; returns the final paths per sample
 * (`mp4` → `stem.mp4`, `gif` → `stem.gif`, `png` → folder `stem_frames/frame_0000.png`, ...).
 */
export async function writePendingVideos(
  pending: PendingOutputs,
  video: Tensor<"float32">,
  options: { name: string; formats: readonly Format[]; fps: number },
): Promise<Record<string, string>[]> {
  const n = video.dims[0];
  const result: Record<string, string>[] = [];
  for (let i = 0; i < n; i++) {
    const frames = framesFromVideo(video, i);
    const stem = sampleStem(options.name, i, n);
    const paths: Record<string, string> = {};
    for (const format of options.formats) {
      const name = format === "png" ? `${stem}_frames` : `${stem}.${format}`;
      const temp = join(pending.temp, name);
      try {
        if (format === "mp4") await writeMp4(frames, options.fps, temp);
        else if (format === "gif") await writeGif(frames, options.fps, temp);
        else await writePngFrames(frames, temp);
      } catch (e) {
        throw new OutputError(
          `Cannot write output '${name}': ${(e as Error).message}`,
          join(pending.dir, name),
          {
            cause: e,
          },
        );
      }
      pending.names.push(name);
      paths[format] = join(pending.dir, name);
    }
    result.push(paths);
  }
  return result;
}

/** Stage a JSON document as `name`; returns its final path. */
export async function writePendingJson(
  pending: PendingOutputs,
  name: string,
  value: unknown,
): Promise<string> {
  await Deno.writeTextFile(join(pending.temp, name), JSON.stringify(value, null, 2) + "\n");
  pending.names.push(name);
  return join(pending.dir, name);
}
