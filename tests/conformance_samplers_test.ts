/**
 * Conformance cases every sampler plugin gets for free: the built-ins of samplers/mod.ts and every sampler
 * module under plugins/examples/ (which export `plugin`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { samplers } from "../samplers/mod.ts";
import { rflowTimesteps } from "../samplers/timesteps.ts";
import { fromArray, tensor } from "../runtime/tensor.ts";
import type { ModelFn, PluginDefinition, RunEvent, Sampler, Tensor } from "../runtime/types.ts";
import { readSafetensors } from "../runtime/safetensors.ts";
import { resident } from "../schedulers/resident.ts";
import { ROOT, toyDenoiserBundle } from "./_bundles.ts";
import { denoiseWith } from "./_denoise_with.ts";

async function exampleSamplers(): Promise<PluginDefinition<"sampler">[]> {
  const found: PluginDefinition<"sampler">[] = [];
  const dir = join(ROOT, "plugins", "examples");
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    const mod = await import(`file://${join(dir, entry.name)}`);
    if (mod.plugin?.kind === "sampler") found.push(mod.plugin);
  }
  return found;
}

const ALL = [...samplers, ...await exampleSamplers()];
const TIMESTEPS = rflowTimesteps({ steps: 30, height: 256, width: 256, frames: 68 });
const make = (def: PluginDefinition<"sampler">): Sampler => def.create(def.options.parse({}));

function context(timesteps: readonly number[], signal?: AbortSignal) {
  const events: RunEvent[] = [];
  return {
    events,
    ctx: {
      timesteps,
      signal,
      onStep: (s: { step: number; t: number; calls: number }) =>
        events.push({ type: "step", ...s, total: timesteps.length, etaMs: null }),
      onDecision: (d: { step: number; message: string; data?: Record<string, number | boolean | null> }) =>
        events.push({ type: "decision", sampler: "", ...d }),
    },
  };
}

/** The straight flow to one data point: v = (x0 − x)/τ. Every consistent rectified-flow sampler lands on x0. */
function straight(x0: Float32Array, calls: { t: number; step: number }[]): ModelFn {
  return (x, t, step) => {
    calls.push({ t, step });
    return Promise.resolve(tensor("float32", x.dims, x.data.map((v, i) => (x0[i] - v) / (t / 1000))));
  };
}

const noise = fromArray([1, 4, 2, 3, 3], Array.from({ length: 72 }, (_, i) => Math.sin(i * 1.7) * 1.5));
const target = new Float32Array(72).map((_, i) => Math.cos(i * 0.3) * 0.5);

for (const def of ALL) {
  Deno.test(`sampler '${def.name}' lands on the data point of a straight flow`, async () => {
    const before = Float32Array.from(noise.data);
    const out = await make(def).sample(straight(target, []), noise, context(TIMESTEPS).ctx);
    assert.deepEqual(out.dims, noise.dims);
    out.data.forEach((v, i) => assert.ok(Math.abs(v - target[i]) < 1e-4, `${def.name} element ${i}: ${v}`));
    assert.deepEqual(noise.data, before, "the input latent must not be written");
  });

  Deno.test(`sampler '${def.name}' emits one step event per model call, matching the call`, async () => {
    const calls: { t: number; step: number }[] = [];
    const { events, ctx } = context(TIMESTEPS);
    await make(def).sample(straight(target, calls), noise, ctx);
    const steps = events.flatMap((e) => (e.type === "step" ? [e] : []));
    assert.ok(calls.length >= 1);
    assert.deepEqual(calls[0], { t: TIMESTEPS[0], step: 0 });
    assert.equal(steps.length, calls.length);
    steps.forEach((e, i) => {
      assert.equal(e.calls, i + 1);
      assert.deepEqual({ t: e.t, step: e.step }, calls[i]);
      assert.ok(e.step >= 0 && e.step < TIMESTEPS.length && (i === 0 || e.step >= steps[i - 1].step));
    });
    for (const d of events.flatMap((e) => (e.type === "decision" ? [e] : []))) {
      assert.ok(d.step >= 0 && d.step <= steps.at(-1)!.step && d.message.length > 0);
    }
  });

  Deno.test(`sampler '${def.name}' stops calling the model once aborted`, async () => {
    const controller = new AbortController();
    let calls = 0;
    const model: ModelFn = (x) => {
      if (++calls === 3) controller.abort(new DOMException("stop", "AbortError"));
      return Promise.resolve(x);
    };
    await assert.rejects(() => make(def).sample(model, noise, context(TIMESTEPS, controller.signal).ctx));
    assert.equal(calls, 3);
  });

  Deno.test(`sampler '${def.name}' runs the toy denoiser bundle end to end`, async () => {
    const dir = await toyDenoiserBundle();
    const e = await readSafetensors(join(dir, "expected.safetensors"));
    const timesteps = rflowTimesteps({ steps: 30, height: 40, width: 48, frames: 17 });
    const r = await denoiseWith(dir, {
      sampler: make(def),
      scheduler: resident.create({}),
      noise: e.z as Tensor<"float32">,
      y: e.y as Tensor<"float32">,
      yMask: e.y_mask,
      yNull: e.y_null as Tensor<"float32">,
      timesteps,
      fps: 24,
      height: 40,
      width: 48,
    });
    assert.deepEqual(r.latent.dims, e.z.dims);
    assert.ok(r.latent.data.every(Number.isFinite));
    assert.equal(r.events.filter((ev) => ev.type === "step").length, r.calls);
    assert.equal(
      r.events.filter((ev) => ev.type === "block" && ev.op === "run" && ev.block === "final").length,
      r.calls,
    );
  });
}

Deno.test("conformance covers every built-in sampler and the examples", () => {
  const names = ALL.map((d) => d.name);
  for (const name of ["euler", "lpl", "lpl-dynamic"]) assert.ok(names.includes(name), name);
});
