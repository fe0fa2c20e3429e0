import assert from "node:assert/strict";
import { join } from "node:path";
import { PluginError } from "../runtime/errors.ts";
import { generate } from "../runtime/pipeline.ts";
import { loadRecipe } from "../runtime/recipe.ts";
import { builtins, resolvePlugin } from "../builtins.ts";
import type { RunEvent } from "../runtime/types.ts";
import { tinyBundle, tinyRecipe, writeRecipe } from "../tests/_e2e.ts";
import { startLoopbackDevice } from "./loopback_device.ts";

Deno.test("a recipe naming 'executor: { name: ios }' runs text, denoiser and VAE on the device, bit-equal to local", async () => {
  const bundle = await tinyBundle();
  const device = startLoopbackDevice({ bundleDir: bundle, port: 0, device: "recipe-test" });
  const tmp = await Deno.makeTempDir();
  try {
    const run = async (name: string, executor: string) => {
      const yaml = tinyRecipe(
        bundle,
        join(tmp, name),
        `executor: ${executor}\nscheduler: { name: concurrent }`,
      );
      const events: RunEvent[] = [];
      const result = await generate(await loadRecipe(await writeRecipe(tmp, `${name}.yaml`, yaml)), {
        registry: builtins,
        emit: (e) => events.push(e),
      });
      return { result, events };
    };
    const here = await run("local", "{ name: local }");
    const phone = await run(
      "phone",
      `{ name: ios, host: 127.0.0.1, port: ${device.port}, timeoutMs: 60000 }`,
    );
    assert.ok(phone.result.video.data.length > 0);
    assert.deepEqual(phone.result.video.data, here.result.video.data);
    const stages = (
      events: RunEvent[],
    ) => [...new Set(events.flatMap((e) => e.type === "block" && e.op === "run" ? [e.stage] : []))];
    assert.deepEqual(stages(phone.events), ["text", "denoiser", "vae"]);
    assert.equal(phone.result.calls, here.result.calls);
  } finally {
    await device.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the registry resolves 'ios' by name and names a bad option", async () => {
  const exec = await resolvePlugin("executor", { name: "ios", port: 9 }, ".");
  assert.equal(exec.name, "ios");
  await assert.rejects(
    resolvePlugin("executor", { name: "ios", port: "x" }, "."),
    (e) => e instanceof PluginError && /Cannot configure executor 'ios': option 'port'/.test(e.message),
  );
});
