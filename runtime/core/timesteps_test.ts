import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors } from "../bundle/safetensors.ts";
import { goldenDir } from "../../tests/_bundles.ts";
import { rflowTimesteps, shiftRatio } from "./timesteps.ts";

function transformInputs(config: Record<string, unknown>) {
  const t = config.timestep_transform_inputs as
    | { height: number; width: number; num_frames: number }
    | undefined;
  return t ?? { height: 240, width: 426, num_frames: 51 };
}

for (const fixture of ["rflow_sample", "ondevice_lpl"]) {
  Deno.test(`rflowTimesteps() equals the golden ${fixture} timesteps bit for bit`, async () => {
    const dir = join(goldenDir(), fixture);
    const config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
    const file = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).find((n) =>
      n.startsWith("outputs")
    )!;
    const ref = (await readSafetensors(join(dir, file))).timesteps;
    const [k, b] = ref.dims;
    const { height, width, num_frames } = transformInputs(config);
    const ts = rflowTimesteps({
      steps: config.scheduler.num_sampling_steps,
      height,
      width,
      frames: num_frames,
      discrete: config.scheduler.use_discrete_timesteps,
      shift: config.scheduler.use_timestep_transform,
    });
    assert.equal(ts.length, k);
    ts.forEach((t, i) => assert.equal(t, ref.data[i * b], `step ${i}`));
  });
}

Deno.test("rflowTimesteps() without shift is the uniform grid; discrete rounds ties to even as Python", () => {
  assert.deepEqual(rflowTimesteps({ steps: 4, height: 1, width: 1, frames: 1, shift: false }), [
    1000,
    750,
    500,
    250,
  ]);
  // (1 − 1/16)·1000 = 937.5 → 938 and (1 − 3/16)·1000 = 812.5 → 812 under Python's round().
  const d = rflowTimesteps({ steps: 16, height: 1, width: 1, frames: 1, shift: false, discrete: true });
  assert.equal(d[1], 938);
  assert.equal(d[3], 812);
});

Deno.test("shiftRatio() follows Open-Sora: 1 frame has no time factor; 2..16 frames are refused", () => {
  assert.equal(shiftRatio(512, 512, 1), 1);
  assert.equal(shiftRatio(512, 512, 17), Math.fround(Math.sqrt(5)));
  assert.throws(
    () => rflowTimesteps({ steps: 3, height: 240, width: 426, frames: 9 }),
    /frames '9' give a zero shift ratio/,
  );
  assert.throws(() => rflowTimesteps({ steps: 0, height: 240, width: 426, frames: 51 }), /steps '0'/);
});
