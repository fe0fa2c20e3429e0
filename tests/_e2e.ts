/**
 * Helpers of the end-to-end and bad-input suites: a real tiny bundle built by the exporter (random
 * weights, the default model's word tokenizer), the CLI run as a subprocess, and file listings.
 *
 * @module
 */
import { join } from "node:path";
import { cached, exporterSources, py, ROOT } from "./_bundles.ts";

const WORDS = "import sys; from pathlib import Path; " +
  "from export.world.tokenizer_words import build_tokenizer, save_tokenizer; " +
  "save_tokenizer(build_tokenizer(), Path(sys.argv[1]))";

/** The e2e bundle folder: `export random --config tiny` with the word tokenizer (all three stages). */
export async function tinyBundle(): Promise<string> {
  const dir = await cached("e2e-tiny", exporterSources(), async (d) => {
    await py(["-c", WORDS, join(d, "words.json")]);
    const args = ["--config", "tiny", "--seed", "3", "--tokenizer", join(d, "words.json"), "--threads", "1"];
    await py(["-m", "export", "random", ...args, "--quiet", "--out", join(d, "b")]);
  });
  return join(dir, "b");
}

/** What a CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stderr lines, without empty ones. */
  lines: string[];
}

/** Run `deno run -A main.ts ARGS` as a subprocess (no stdin, not a TTY). */
export async function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(ROOT, "main.ts"), ...args],
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  const stderr = text.decode(out.stderr);
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr,
    lines: stderr.split("\n").filter((l) => l.trim() !== ""),
  } satisfies CliRun;
}

/** Write a recipe file `name` into `dir` and return its path. */
export async function writeRecipe(dir: string, name: string, yaml: string): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, yaml);
  return path;
}

/** Every file and folder under `dir` (relative paths, hidden ones included); [] when it does not exist. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of Deno.readDirSync(d)) {
      out.push(prefix + e.name);
      if (e.isDirectory) walk(join(d, e.name), `${prefix}${e.name}/`);
    }
  };
  try {
    walk(dir, "");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** A recipe for the tiny bundle: 64×64, 17 frames, few steps; `extra` lines are appended. */
export function tinyRecipe(bundle: string, outDir: string, extra = ""): string {
  return [
    `bundle: ${JSON.stringify(bundle)}`,
    "prompt: a red circle",
    "seed: 5",
    "height: 64",
    "width: 64",
    "frames: 17",
    "fps: 8",
    "steps: 3",
    `output: { dir: ${JSON.stringify(outDir)}, name: clip, formats: [mp4] }`,
    extra,
  ].join("\n") + "\n";
}
