/**
 * The parity suite's shared types and helpers: fixture folders (golden layout), bundles built from them by
 * the exporter (cached), and the relative-L2 comparison with its tolerance.
 *
 * @module
 */
import { basename, join, resolve } from "node:path";
import { existsSync } from "node:fs";
import type { Bundle } from "../runtime/bundle/bundle.ts";
import { loadBundle } from "../runtime/bundle/bundle.ts";
import { readSafetensors } from "../runtime/bundle/safetensors.ts";
import { relL2 } from "../runtime/core/tensor.ts";
import type { Executor, MemoryScheduler, Tensor, TensorMap } from "../runtime/core/types.ts";
import { cached, exporterSources, py } from "./_bundles.ts";

/** The parity tolerance: relative L2 error ‖out − ref‖ / ‖ref‖. */
export const TOLERANCE = 1e-4;

/** A golden fixture folder: config.json plus safetensors files. */
export interface Fixture {
  dir: string;
  /** `config.fixture`, else the folder name. */
  name: string;
  // deno-lint-ignore no-explicit-any
  config: Record<string, any>;
  /** The `.safetensors` files of the folder (names). */
  files: string[];
  /** Read one safetensors file of the folder (cached). */
  read(file: string): Promise<TensorMap>;
}

/** One compared output. */
export interface ParityResult {
  output: string;
  relErr: number;
  /** A figure that is not a relative error (a step count, a leap step), printed instead of `rel_err`. */
  value?: string;
  pass: boolean;
  detail?: string;
}

/** What checks share: bundles built from fixtures, an executor and a scheduler. */
export interface ParityEnv {
  bundle(fx: Fixture): Promise<Bundle>;
  executor: Executor;
  scheduler: MemoryScheduler;
}

/** A parity check: recognises its fixtures and runs them through the Deno runtime. */
export interface ParityCheck {
  name: string;
  matches(fx: Fixture): boolean;
  run(fx: Fixture, env: ParityEnv): Promise<ParityResult[]>;
}

/** Open a fixture folder; throws when it has no config.json. */
export async function openFixture(dir: string): Promise<Fixture> {
  const abs = resolve(dir);
  const configPath = join(abs, "config.json");
  if (!existsSync(configPath)) throw new Error(`Cannot open fixture: '${configPath}' does not exist`);
  const config = JSON.parse(await Deno.readTextFile(configPath));
  const files = [...Deno.readDirSync(abs)].filter((e) => e.isFile && e.name.endsWith(".safetensors")).map((
    e,
  ) => e.name)
    .sort();
  const cache = new Map<string, Promise<TensorMap>>();
  return {
    dir: abs,
    name: typeof config.fixture === "string" ? config.fixture : basename(abs),
    config,
    files,
    read(file: string) {
      if (!cache.has(file)) cache.set(file, readSafetensors(join(abs, file)));
      return cache.get(file)!;
    },
  };
}

/** Every tensor of the fixture's data files (all safetensors but the weights), merged. */
export async function readAll(fx: Fixture): Promise<TensorMap> {
  const out: TensorMap = {};
  for (const f of fx.files.filter((f) => !f.startsWith("weights"))) Object.assign(out, await fx.read(f));
  return out;
}

/** Compare one output; a shape mismatch fails with a detail. */
export function compare(
  output: string,
  out: Tensor | undefined,
  ref: Tensor,
  tolerance = TOLERANCE,
): ParityResult {
  if (!out || out.dims.join(",") !== ref.dims.join(",")) {
    return {
      output,
      relErr: NaN,
      pass: false,
      detail: `dims '${JSON.stringify(out?.dims)}' vs '${JSON.stringify(ref.dims)}'`,
    };
  }
  const relErr = relL2(out, ref);
  return { output, relErr, pass: relErr <= tolerance };
}

/** The folders whose content decides a fixture bundle: the fixture and the model folder it borrows. */
function fixtureSources(fx: Fixture): string[] {
  const files = [join(fx.dir, "config.json"), ...fx.files.map((f) => join(fx.dir, f))];
  const shared = String(fx.config.shared_inputs ?? "").match(/(\.\.\/[^/{}\s]+)\//);
  if (shared && existsSync(join(fx.dir, shared[1], "weights.safetensors"))) {
    files.push(join(fx.dir, shared[1], "weights.safetensors"));
  }
  return files;
}

/** Build (once, cached by fixture content and exporter sources) the partial bundle of a fixture. */
export async function fixtureBundle(fx: Fixture): Promise<Bundle> {
  const dir = await cached(
    `parity-${fx.name}`,
    [...exporterSources(), ...fixtureSources(fx)],
    async (tmp) => {
      await py(["-m", "export", "fixture", fx.dir, "--out", tmp, "--quiet", "--threads", "1"]);
    },
  );
  return await loadBundle(dir);
}
