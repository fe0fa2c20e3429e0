/**
 * MP4 output: H.264 (libx264), yuv420p, `+faststart`, so browsers play it. Frames go to ffmpeg as raw
 * RGB on stdin; ffmpeg writes a temporary file beside the target, which is renamed into place.
 * Odd sizes are padded by one black row/column (yuv420p needs even dimensions).
 *
 * @module
 */
import { removeQuietly, tempPathFor } from "./atomic.ts";
import type { Frames } from "./frames.ts";
import { runFfmpeg } from "./ffmpeg.ts";

/** Options of {@link writeMp4}. */
export interface Mp4Options {
  /** x264 constant rate factor (lower = better; 18 is visually lossless for these clips). */
  crf?: number;
}

/**
 * Write a clip as an H.264 MP4 at `fps` to `path` (atomically).
 *
 * @example
 * ```ts
 * import { writeMp4 } from "./video.ts";
 * const frames = { width: 16, height: 16, count: 2, data: new Uint8Array(16 * 16 * 3 * 2) };
 * await writeMp4(frames, 24, await Deno.makeTempFile({ suffix: ".mp4" }));
 * ```
 */
export async function writeMp4(
  frames: Frames,
  fps: number,
  path: string,
  options: Mp4Options = {},
): Promise<void> {
  if (frames.count < 1) throw new RangeError("Cannot encode MP4: the clip has no frames");
  const temp = tempPathFor(path);
  const args = [
    ...["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${frames.width}x${frames.height}`, "-r", String(fps)],
    ...["-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "medium"],
    ...["-crf", String(options.crf ?? 18), "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
    ...["-threads", "1", "-f", "mp4", "-y", temp],
  ];
  try {
    const { code, stderr } = await runFfmpeg(args, frames.data);
    if (code !== 0) throw new Error(`Cannot encode MP4 "${path}": ffmpeg exited with ${code}: ${stderr}`);
    await Deno.rename(temp, path);
  } catch (e) {
    await removeQuietly(temp);
    throw e;
  }
}
