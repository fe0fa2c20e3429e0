/**
 * Parity of the whole RFLOW sampler (fixture `rflow_sample`): the schedule from the fixture's config must
 * equal the reference timesteps exactly, and `denoise()` with the `euler` sampler and CFG over the
 * fixture's z, y, mask, y_null and add_* inputs must reproduce `z_final`.
 *
 * @module
 */
import { denoise } from "../runtime/core/denoise.ts";
import { openStage } from "../runtime/core/stage.ts";
import { reshape, slice } from "../runtime/core/tensor.ts";
import type { Tensor } from "../runtime/core/types.ts";
import { euler } from "../samplers/euler.ts";
import { rflowTimesteps } from "../runtime/core/timesteps.ts";
import { compare, type Fixture, type ParityCheck, type ParityResult } from "./_parity.ts";
import { instantiate } from "../runtime/core/registry.ts";

/** The inputs, the schedule and the sampler settings of an RFLOW fixture (also used by the on-device checks). */
export async function rflowSetup(fx: Fixture, prefix = "") {
  const outputs = await fx.read(fx.files.find((f) => f.startsWith("outputs"))!);
  const inputs = fx.files.includes("inputs.safetensors") ? await fx.read("inputs.safetensors") : outputs;
  const get = (k: string) => inputs[prefix + k] as Tensor<"float32">;
  const z = get("z");
  const n = z.dims[0];
  const L = get("mask").dims[1];
  const first = (k: string) => get(k).data[0] as number;
  const s = fx.config.scheduler;
  const height = first("add_height");
  const width = first("add_width");
  const timesteps = rflowTimesteps({
    steps: s.num_sampling_steps,
    height,
    width,
    frames: first("add_num_frames"),
    discrete: s.use_discrete_timesteps,
    shift: s.use_timestep_transform,
    numTimesteps: s.num_timesteps,
  });
  return {
    outputs,
    timesteps,
    cfgScale: s.cfg_scale as number,
    noise: z,
    y: reshape(get("y"), [n, L, -1]),
    yMask: get("mask"),
    yNull: reshape(slice(get("y_null"), 0, 0, 1), [L, -1]),
    fps: first("add_fps"),
    height,
    width,
  };
}

/** Compare a schedule with a reference [K, B] timesteps tensor: exact equality or FAIL. */
export function compareTimesteps(timesteps: readonly number[], ref: Tensor): ParityResult {
  const [k, b] = ref.dims;
  let maxDiff = timesteps.length === k ? 0 : Infinity;
  for (let i = 0; i < Math.min(k, timesteps.length); i++) {
    for (let j = 0; j < b; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(timesteps[i] - (ref.data[i * b + j] as number)));
    }
  }
  return { output: "timesteps", relErr: maxDiff, pass: maxDiff === 0, detail: `exact, max |Δ| = ${maxDiff}` };
}

/** The rflow_sample check. */
export const rflowSample: ParityCheck = {
  name: "rflow_sample",
  matches: (fx) =>
    fx.name === "rflow_sample" ||
    (fx.config.model !== undefined && fx.config.scheduler !== undefined &&
      fx.files.includes("inputs.safetensors")),
  async run(fx, env) {
    const bundle = await env.bundle(fx);
    const setup = await rflowSetup(fx);
    const results = [compareTimesteps(setup.timesteps, setup.outputs.timesteps)];
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor: env.executor,
      scheduler: env.scheduler,
      budget: { bytes: null },
      passes: setup.timesteps.length,
      emit: () => {},
    });
    try {
      const { latent } = await denoise({
        bundle,
        runner,
        sampler: instantiate(euler),
        tokenOps: [],
        ...setup,
        emit: () => {},
      });
      results.push(compare("z_final", latent, setup.outputs.z_final));
    } finally {
      await runner.close();
    }
    return results;
  },
};
