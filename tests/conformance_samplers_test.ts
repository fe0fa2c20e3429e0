/**
 * Conformance cases every sampler plugin gets for free: the built-ins of samplers/mod.ts and every sampler
 * module under plugins/examples/ (which export `plugin`) go through `assertSamplerConforms` (plugin.ts), and
 * run the toy denoiser bundle end to end. The order check is shown to catch a wrong Heun coefficient.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { samplers } from "../samplers/mod.ts";
import { rflowTimesteps } from "../runtime/core/timesteps.ts";
import type { PluginDefinition, Tensor } from "../runtime/core/types.ts";
import { readSafetensors } from "../runtime/bundle/safetensors.ts";
import { resident } from "../schedulers/resident.ts";
import {
  addScaled,
  assertSamplerConforms,
  convergenceOrder,
  definePlugin,
  eulerDt,
  instantiate,
  sub,
} from "../plugin.ts";
import { z } from "zod";
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
/** The order each sampler claims on a smooth field: leaping samplers stop integrating (no claim). */
const ORDER: Record<string, number> = { euler: 1, heun: 2, lpl: 0, "lpl-dynamic": 0 };

for (const def of ALL) {
  Deno.test(`sampler '${def.name}' conforms (straight flow, calls, cancellation, order ${ORDER[def.name]})`, async () => {
    assert.ok(def.name in ORDER, `no order claim for '${def.name}'`);
    await assertSamplerConforms(def, { order: ORDER[def.name] });
  });

  Deno.test(`sampler '${def.name}' runs the toy denoiser bundle end to end`, async () => {
    const dir = await toyDenoiserBundle();
    const e = await readSafetensors(join(dir, "expected.safetensors"));
    const timesteps = rflowTimesteps({ steps: 30, height: 40, width: 48, frames: 17 });
    const r = await denoiseWith(dir, {
      sampler: instantiate(def),
      scheduler: instantiate(resident),
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

/** Heun as plugins/examples/heun.ts, with the averaging coefficient multiplied by `factor`. */
function heunTimes(factor: number) {
  return definePlugin({
    name: `heun-x${factor}`,
    kind: "sampler",
    options: z.object({}).strict(),
    create: () => ({
      async sample(model, x, { timesteps: ts }) {
        for (let i = 0; i < ts.length; i++) {
          const dt = eulerDt(ts, i);
          const v1 = await model(x, ts[i], i);
          const predicted = addScaled(x, v1, dt);
          if (i === ts.length - 1) {
            x = predicted;
            continue;
          }
          const v2 = await model(predicted, ts[i + 1], i);
          x = addScaled(x, addScaled(v1, sub(v2, v1), 0.5 * factor), dt);
        }
        return x;
      },
    }),
  });
}

Deno.test("the order check fails a Heun whose coefficient is wrong ×14 (it still lands on a straight flow)", async () => {
  assert.ok((await convergenceOrder(heunTimes(1))) > 1.9);
  const wrong = heunTimes(14);
  const order = await convergenceOrder(wrong);
  assert.ok(order < 1.5, `measured ${order}`);
  await assert.rejects(assertSamplerConforms(wrong, { order: 2 }), /converges at order .* it claims 2/);
  await assertSamplerConforms(wrong, { order: 0 }); // the straight-flow checks alone do not see it
});
