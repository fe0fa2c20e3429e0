/**
 * Locating and running ffmpeg: the static build shipped by the npm package `@ffmpeg-installer/linux-x64`
 * (resolved from node_modules), else `ffmpeg` on the PATH.
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

let cached: string | null = null;

function isExecutableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o755) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function fromPath(): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isExecutableFile(join(dir, "ffmpeg"))) return join(dir, "ffmpeg");
  }
  return null;
}

/**
 * The ffmpeg binary to use. `ODSORA_FFMPEG` overrides; then the npm package's binary (made executable if
 * its mode bits were lost); then the PATH. Throws when none is found.
 */
export function ffmpegPath(): string {
  if (cached) return cached;
  const override = Deno.env.get("ODSORA_FFMPEG");
  if (override) {
    if (!isExecutableFile(override)) {
      throw new Error(`Cannot run ffmpeg: ODSORA_FFMPEG="${override}" is not executable`);
    }
    return cached = override;
  }
  try {
    const require = createRequire(import.meta.url);
    const bin = join(dirname(require.resolve("@ffmpeg-installer/linux-x64/package.json")), "ffmpeg");
    if (!isExecutableFile(bin)) Deno.chmodSync(bin, 0o755);
    if (isExecutableFile(bin)) return cached = bin;
  } catch {
    // not installed or not writable: fall through to the PATH
  }
  const system = fromPath();
  if (system) return cached = system;
  throw new Error(
    `Cannot run ffmpeg: neither npm "@ffmpeg-installer/linux-x64" nor "ffmpeg" on the PATH was found`,
  );
}

/** Result of one ffmpeg run. */
export interface FfmpegResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/**
 * Run ffmpeg with `args`, optionally piping `input` to its stdin.
 *
 * @example
 * ```ts
 * import { runFfmpeg } from "./ffmpeg.ts";
 * const { code } = await runFfmpeg(["-hide_banner", "-version"]);
 * ```
 */
export async function runFfmpeg(args: string[], input?: Uint8Array): Promise<FfmpegResult> {
  const child = new Deno.Command(ffmpegPath(), {
    args: ["-hide_banner", "-loglevel", "error", ...(input ? [] : ["-nostdin"]), ...args],
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input) {
    const writer = child.stdin.getWriter();
    await writer.write(input).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr).trim() };
}

/**
 * Decode any image or video file ffmpeg reads (MP4, GIF, PNG) back to packed RGB frames, through PPM
 * images on a pipe (self-describing sizes). Used by the tests and the evaluation to read outputs back.
 */
export async function decodeToRgb(
  path: string,
): Promise<{ width: number; height: number; frames: Uint8Array[] }> {
  const { code, stdout, stderr } = await runFfmpeg([
    "-i",
    path,
    "-vsync",
    "0",
    "-f",
    "image2pipe",
    "-vcodec",
    "ppm",
    "-",
  ]);
  if (code !== 0) throw new Error(`Cannot decode "${path}": ffmpeg exited with ${code}: ${stderr}`);
  const frames: Uint8Array[] = [];
  let width = 0, height = 0, at = 0;
  const token = (): string => {
    while (/\s/.test(String.fromCharCode(stdout[at]))) at++;
    const start = at;
    while (at < stdout.length && !/\s/.test(String.fromCharCode(stdout[at]))) at++;
    return new TextDecoder().decode(stdout.subarray(start, at));
  };
  while (at < stdout.length) {
    if (token() !== "P6") throw new Error(`Cannot decode "${path}": ffmpeg did not write PPM frames`);
    [width, height] = [Number(token()), Number(token())];
    if (token() !== "255") throw new Error(`Cannot decode "${path}": PPM frame is not 8-bit`);
    at++; // the single whitespace byte after maxval
    frames.push(stdout.slice(at, at + width * height * 3));
    at += width * height * 3;
  }
  return { width, height, frames };
}
