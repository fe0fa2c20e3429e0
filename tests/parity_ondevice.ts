/**
 * Parity with the On-device-Sora fixtures (golden `ondevice_*`): every run a fixture's config.json lists
 * (LPL on/off, TDTM merge steps) is reproduced with our plugins — `lpl-dynamic` with the authors' knobs
 * (preset `reference`), `tdtm` with `oddFrame: reference`, integer base timesteps — on the fixture's
 * denoiser bundle, and compared: final latent within 1e-4 relative L2, same number of model calls, same
 * leap step, same per-step cosines. Everything is read from the fixture (shapes, steps, knobs), so fixture
 * folders with other T, seeds or leap steps work too.
 *
 * Standalone: `deno run -A tests/parity_ondevice.ts FIXTURE_DIR... [--bundle DIR]`.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { relL2, reshape, slice, tensor } from "../runtime/core/tensor.ts";
import { readSafetensors } from "../runtime/bundle/safetensors.ts";
import type { RunEvent, Sampler, Tensor, TensorMap, TokenOp } from "../runtime/core/types.ts";
import { euler } from "../samplers/euler.ts";
import { lplDynamic } from "../samplers/lpl_dynamic.ts";
import { rflowTimesteps } from "../runtime/core/timesteps.ts";
import { tdtm } from "../plugins/tdtm.ts";
import { resident } from "../schedulers/resident.ts";
import { py } from "./_bundles.ts";
import { denoiseWith } from "./_denoise_with.ts";
import { instantiate } from "../runtime/core/registry.ts";

/** The tolerance of the final latents (relative L2). */
export const ONDEVICE_TOLERANCE = 1e-4;

/** One compared figure of one run. */
export interface OndeviceCheck {
  fixture: string;
  run: string;
  what: string;
  value: number | string | null;
  expected: number | string | null;
  ok: boolean;
}

/** A run of an On-device-Sora fixture, as its config.json describes it. */
interface OndeviceRun {
  merge_steps: number;
  lpl_enabled: boolean;
  knobs: {
    minimum_steps: number;
    cos_tolerance: number;
    max_tolerance_n: number;
    use_discrete_timesteps: boolean;
  };
  model_calls: number;
  leap_step: number | null;
  lpl_cos_per_step?: (number | null)[];
}

/** Whether a fixture config is an On-device-Sora sampler fixture (it lists `runs` with LPL/TDTM knobs). */
export function isOndeviceFixture(config: Record<string, unknown>): boolean {
  const runs = config.runs as Record<string, Partial<OndeviceRun>> | undefined;
  return !!runs &&
    Object.values(runs).every((r) => typeof r.merge_steps === "number" && typeof r.lpl_enabled === "boolean");
}

function samplerFor(run: OndeviceRun): Sampler {
  if (!run.lpl_enabled) return instantiate(euler);
  return instantiate(lplDynamic, {
    preset: "reference",
    checkFrom: Math.max(1, run.knobs.minimum_steps),
    tolerance: run.knobs.cos_tolerance,
    patience: run.knobs.max_tolerance_n,
  });
}

function tokenOpsFor(run: OndeviceRun): TokenOp[] {
  return run.merge_steps > 0
    ? [instantiate(tdtm, { mergeSteps: run.merge_steps, oddFrame: "reference" })]
    : [];
}

const scalar = (m: TensorMap, key: string) => (m[key].data as Float32Array)[0];

/** Batch row 0 of a [B, 1, L, C] (or [B, L, C]) caption tensor as [L, C]. */
function firstCaption(t: Tensor): Tensor<"float32"> {
  const [l, c] = t.dims.slice(-2);
  return reshape(slice(t as Tensor<"float32">, 0, 0, 1), [l, c]);
}

/**
 * Check every run of one On-device-Sora fixture against our samplers and token ops.
 *
 * @example
 * ```ts ignore
 * const checks = await checkOndeviceFixture("/work/shared/golden/ondevice_lpl", { bundle: "/tmp/fx" });
 * console.log(checks.every((c) => c.ok));
 * ```
 */
export async function checkOndeviceFixture(
  fixtureDir: string,
  options: { bundle: string },
): Promise<OndeviceCheck[]> {
  const config = JSON.parse(await Deno.readTextFile(join(fixtureDir, "config.json")));
  const name = String(config.fixture ?? fixtureDir);
  const out = await readSafetensors(join(fixtureDir, "outputs.safetensors"));
  const inputs = (key: string) => out[`inputs_b1.${key}`];
  const noise = inputs("z") as Tensor<"float32">;
  const n = noise.dims[0];
  const y = inputs("y");
  const captions = reshape(y as Tensor<"float32">, [n, y.dims.at(-2)!, y.dims.at(-1)!]);
  const [height, width, frames, fps] = ["add_height", "add_width", "add_num_frames", "add_fps"].map((k) =>
    scalar(out, `inputs_b1.${k}`)
  );
  const s = config.scheduler;
  const checks: OndeviceCheck[] = [];
  const check = (
    run: string,
    what: string,
    value: number | string | null,
    expected: number | string | null,
    ok: boolean,
  ) => checks.push({ fixture: name, run, what, value, expected, ok });
  for (const [label, run] of Object.entries(config.runs as Record<string, OndeviceRun>)) {
    const timesteps = rflowTimesteps({
      steps: s.num_sampling_steps,
      height,
      width,
      frames,
      discrete: run.knobs.use_discrete_timesteps,
      shift: s.use_timestep_transform,
      numTimesteps: s.num_timesteps,
    });
    const refTs = tensor(
      "float32",
      [timesteps.length],
      Float32Array.from({ length: timesteps.length }, (_, i) => out.timesteps.data[i * n] as number),
    );
    const tsErr = relL2(tensor("float32", [timesteps.length], Float32Array.from(timesteps)), refTs);
    check(label, "timesteps rel L2", tsErr, 0, tsErr <= 1e-6);
    const r = await denoiseWith(options.bundle, {
      sampler: samplerFor(run),
      tokenOps: tokenOpsFor(run),
      scheduler: instantiate(resident),
      noise,
      y: captions,
      yMask: inputs("mask"),
      yNull: firstCaption(inputs("y_null")),
      cfgScale: s.cfg_scale,
      timesteps,
      fps,
      height,
      width,
    });
    const err = relL2(r.latent, out[`${label}.z_final`]);
    check(label, "z_final rel L2", err, ONDEVICE_TOLERANCE, err <= ONDEVICE_TOLERANCE);
    check(label, "model calls", r.calls, run.model_calls, r.calls === run.model_calls);
    const leap = r.events.find((e): e is Extract<RunEvent, { type: "decision" }> =>
      e.type === "decision" && e.data?.leap === true
    );
    check(label, "leap step", leap?.step ?? null, run.leap_step, (leap?.step ?? null) === run.leap_step);
    if (run.lpl_enabled && run.lpl_cos_per_step) {
      const cosines = r.events.flatMap((e) =>
        e.type === "decision" && typeof e.data?.cosine === "number" ? [[e.step, e.data.cosine]] : []
      );
      const worst = Math.max(
        0,
        ...cosines.map(([step, c]) => Math.abs(c - (run.lpl_cos_per_step![step] ?? NaN))),
      );
      check(label, "max |cosine − reference|", worst, 1e-4, cosines.length === r.calls - 1 && worst <= 1e-4);
    }
  }
  return checks;
}

/** Build the fixture's denoiser bundle (`scripts/py -m export fixture`) into `out`. */
export async function buildFixtureBundle(fixtureDir: string, out: string): Promise<string> {
  await py(["-m", "export", "fixture", resolve(fixtureDir), "--out", out, "--quiet"]);
  return out;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { bundle: { type: "string" } },
  });
  let failed = 0;
  for (const dir of positionals) {
    const tmp = values.bundle ? null : await Deno.makeTempDir({ prefix: "odsora-ondevice-" });
    try {
      const bundle = values.bundle ?? await buildFixtureBundle(dir, join(tmp!, "bundle"));
      for (const c of await checkOndeviceFixture(dir, { bundle })) {
        if (!c.ok) failed++;
        console.log(
          `${c.ok ? "ok  " : "FAIL"} ${c.fixture} ${c.run}: ${c.what} = ${c.value} (expected ${c.expected})`,
        );
      }
    } finally {
      if (tmp) await Deno.remove(tmp, { recursive: true });
    }
  }
  Deno.exit(failed ? 1 : 0);
}
