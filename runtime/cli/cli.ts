/**
 * The command line: `deno task run RECIPE.yaml [options]`. Flags override recipe keys. Progress goes to
 * stderr, the written paths to stdout. Any error is one line on stderr and a non-zero exit code
 * (2: bad command line, 130: cancelled, 1: anything else), and no output file is left behind. The plugins
 * come in as a registry: `main.ts` at the repository root hands it the built-ins.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Registry } from "../core/registry.ts";
import { withFallbackBundle } from "./fallback_bundle.ts";
import { createProgress } from "./progress.ts";
import { loadRecipe } from "../recipe/recipe.ts";
import { generate } from "../pipeline/pipeline.ts";

const USAGE = `Usage: deno task run RECIPE.yaml [options]

Options (each overrides the recipe key in brackets):
  --prompt TEXT       the prompt [prompt]
  --seed N            noise seed [seed]
  --out DIR           output folder [output.dir]
  --name NAME         output file name stem [output.name]
  --format LIST       comma-separated: mp4,gif,png [output.formats]
  --steps N           sampling steps [steps]
  --frames N          video frames [frames]
  --height N          video height in pixels [height]
  --width N           video width in pixels [width]
  --fps N             frames per second [fps]
  --cfg X             guidance scale [cfg]
  --sampler NAME      built-in sampler, default options [sampler]
  --scheduler NAME    built-in memory scheduler [scheduler.name]
  --budget SIZE       memory budget: 3.3GB, 512MiB, 50%, none [scheduler.budget]
  --bundle DIR        bundle folder [bundle]
  --quiet             no progress output
  --help              this text`;

const FLAGS: Record<string, string> = {
  prompt: "prompt",
  seed: "seed",
  out: "output.dir",
  name: "output.name",
  format: "output.formats",
  steps: "steps",
  frames: "frames",
  height: "height",
  width: "width",
  fps: "fps",
  cfg: "cfg",
  sampler: "sampler",
  scheduler: "scheduler.name",
  budget: "scheduler.budget",
  bundle: "bundle",
};
const NUMERIC = new Set(["seed", "steps", "frames", "height", "width", "fps", "cfg"]);

/** The message of an error as one line. */
export function oneLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/\s*\n\s*/g, " ").trim() || (e instanceof Error ? e.name : "unknown error");
}

/** Flags to recipe overrides (numbers parsed when they are numbers; zod reports the rest at the flag). */
export function overridesFrom(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(FLAGS)) {
    const v = values[flag];
    if (typeof v !== "string") continue;
    if (flag === "format") out[key] = v.split(",").map((s) => s.trim()).filter(Boolean);
    else if (flag === "sampler") out[key] = { name: v };
    else if (NUMERIC.has(flag) || flag === "budget") {
      out[key] = /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
    } else out[key] = v;
  }
  return out;
}

/**
 * Run the CLI with `args` and the plugins of `registry`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { builtins } from "../../builtins.ts";
 * Deno.exit(await main(["recipes/default.yaml", "--quiet"], builtins));
 * ```
 */
export async function main(args: string[], registry: Registry): Promise<number> {
  const encoder = new TextEncoder();
  const err = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));
  let parsed;
  try {
    const options = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: "string" as const }]));
    parsed = parseArgs({
      args,
      options: { ...options, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    err(`odsora: error: Cannot parse the command line: ${oneLine(e)} (see --help)`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    err(`odsora: error: Cannot run: expected one recipe file, got ${parsed.positionals.length} (see --help)`);
    return 2;
  }
  const progress = parsed.values.quiet ? null : createProgress();
  const controller = new AbortController();
  const onSignal = () => controller.abort(new DOMException("cancelled by SIGINT", "AbortError"));
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const warn = (m: string) => {
      progress?.clear();
      err(`odsora: warning: ${m}`);
    };
    const recipe = await withFallbackBundle(
      await loadRecipe(parsed.positionals[0], {
        overrides: overridesFrom(parsed.values),
        overrideLabel: (key) => `--${Object.keys(FLAGS).find((f) => FLAGS[f] === key) ?? key}`,
      }),
      warn,
    );
    const result = await generate(recipe, {
      registry,
      // the progress bar reads stages, steps and blocks: no preview is ever made for the terminal
      observers: progress ? [{ types: ["stage", "step", "block"], on: (e) => progress.emit(e) }] : [],
      signal: controller.signal,
      warn,
    });
    progress?.end();
    for (const sample of result.outputs) for (const path of Object.values(sample)) console.log(path);
    console.log(result.report);
    return 0;
  } catch (e) {
    progress?.end();
    if (controller.signal.aborted) {
      err("odsora: error: Cannot finish the run: cancelled (no files written)");
      return 130;
    }
    err(`odsora: error: ${oneLine(e)}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}
