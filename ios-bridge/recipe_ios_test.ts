import assert from "node:assert/strict";
import { join } from "node:path";
import { PluginError } from "../runtime/core/errors.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { builtins, resolvePlugin } from "../builtins.ts";
import type { RunEvent } from "../runtime/core/types.ts";
import { tinyBundle, tinyRecipe, writeRecipe } from "../tests/_e2e.ts";
import { pairedLoopback } from "./_paired.ts";

Deno.test("a recipe naming 'executor: { name: ios }' runs text, denoiser and VAE on the device, bit-equal to local", async () => {
  const bundle = await tinyBundle();
  const paired = await pairedLoopback({ bundleDir: bundle, device: "recipe-test" });
  const device = paired.device;
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
      `{ name: ios, host: 127.0.0.1, port: ${device.port}, timeoutMs: 60000, keys: '${paired.keysFile}', budgetMargin: 64MiB }`,
    );
    assert.ok(phone.result.video.data.length > 0);
    assert.deepEqual(phone.result.video.data, here.result.video.data);
    const stages = (
      events: RunEvent[],
    ) => [...new Set(events.flatMap((e) => e.type === "block" && e.op === "run" ? [e.stage] : []))];
    assert.deepEqual(stages(phone.events), ["text", "denoiser", "vae"]);
    assert.equal(phone.result.calls, here.result.calls);

    // no budget in the recipe: local runs unlimited; on the device, every plan's budget is the memory the
    // device reported minus the recipe's margin, and the report says so
    const memoryOf = async (r: typeof here) => JSON.parse(await Deno.readTextFile(r.result.report)).memory;
    const mine = await memoryOf(here);
    assert.deepEqual(mine.budgetSource, { from: "none" });
    assert.deepEqual(mine.budgets, { text: null, denoiser: null, vae: null });
    const theirs = await memoryOf(phone);
    const source = theirs.budgetSource;
    assert.equal(source.from, "executor");
    assert.equal(source.executor, "ios");
    assert.equal(source.device, "recipe-test");
    assert.equal(source.marginBytes, 64 * 2 ** 20);
    for (const stage of ["text", "denoiser", "vae"]) {
      assert.equal(theirs.budgets[stage], source.availableBytes - source.marginBytes, stage);
    }
    // the figure is the device's own: the loopback device reports this machine's MemAvailable
    const meminfo = await Deno.readTextFile("/proc/meminfo");
    const available = Number(/MemAvailable:\s+(\d+) kB/.exec(meminfo)![1]) * 1024;
    assert.ok(
      Math.abs(source.availableBytes - available) < 0.25 * available,
      `${source.availableBytes} vs ${available}`,
    );
    const planned = phone.events.filter((e) => e.type === "memory").map((e) =>
      e.type === "memory" && e.budgetBytes
    );
    assert.ok(planned.length > 0 && planned.every((b) => b === source.availableBytes - source.marginBytes));
  } finally {
    await paired.close();
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
