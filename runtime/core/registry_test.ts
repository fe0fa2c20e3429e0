import assert from "node:assert/strict";
import { join } from "node:path";
import { PluginError } from "./errors.ts";
import { builtinPlugins, resolvePlugin } from "../../builtins.ts";
import { planStage } from "./stage.ts";

const ROOT = join(import.meta.dirname!, "..", "..");

async function withModule(source: string, fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "mine.ts"), source);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const isPluginError = (plugin: string, hook: string, pattern: RegExp) => (e: unknown) =>
  e instanceof PluginError && e.plugin === plugin && e.hook === hook && pattern.test(e.message);

Deno.test("builtinPlugins() lists the samplers, schedulers and the local executor", () => {
  const names = builtinPlugins().map((d) => `${d.kind}:${d.name}`);
  for (const n of ["sampler:euler", "scheduler:resident", "scheduler:sequential", "executor:local"]) {
    assert.ok(names.includes(n), n);
  }
  assert.ok(builtinPlugins("sampler").every((d) => d.kind === "sampler"));
});

Deno.test("resolvePlugin() creates a built-in by name with validated options", async () => {
  const s = await resolvePlugin("scheduler", { name: "sequential" }, ROOT);
  assert.equal(
    planStage(s, { stage: "vae", passes: 1, blocks: [{ name: "a", bytes: 1, workBytes: 0 }] }, {
      bytes: null,
    })
      .scheduler,
    "sequential",
  );
  const exec = await resolvePlugin("executor", { name: "local", threads: 2 }, ROOT);
  assert.equal(exec.name, "local");
  await exec.close();
});

Deno.test("resolvePlugin() errors name the plugin and the hook", async () => {
  await assert.rejects(
    resolvePlugin("sampler", { name: "nope" }, ROOT),
    isPluginError("nope", "resolve", /built-ins: 'euler/),
  );
  await assert.rejects(
    resolvePlugin("sampler", {}, ROOT),
    isPluginError("(unnamed)", "resolve", /neither 'name' nor 'plugin'/),
  );
  await assert.rejects(
    resolvePlugin("executor", { name: "local", threads: 0 }, ROOT),
    isPluginError("local", "options", /Cannot configure executor 'local': option 'threads'/),
  );
  await assert.rejects(
    resolvePlugin("sampler", { name: "euler", steps: 3 }, ROOT),
    isPluginError("euler", "options", /steps/),
  );
  await assert.rejects(
    resolvePlugin("sampler", { name: "resident" }, ROOT),
    isPluginError("resident", "resolve", /no built-in/),
  );
});

Deno.test("resolvePlugin() loads the example Heun plugin module by path, relative to baseDir", async () => {
  const heun = await resolvePlugin(
    "sampler",
    { plugin: "./plugins/examples/heun.ts", finalEuler: false },
    ROOT,
  );
  assert.equal(heun.name, "heun");
  await assert.rejects(
    resolvePlugin("sampler", { plugin: "./plugins/examples/heun.ts", finalEuler: "yes" }, ROOT),
    isPluginError("heun", "options", /option 'finalEuler'/),
  );
  await assert.rejects(
    resolvePlugin("scheduler", { plugin: "./plugins/examples/heun.ts" }, ROOT),
    isPluginError("heun", "resolve", /Cannot use plugin 'heun' as a scheduler: it is a 'sampler' plugin/),
  );
});

Deno.test("resolvePlugin() reports modules that throw, lack `plugin`, or create broken objects", async () => {
  await withModule("throw new Error('boom at import');", async (dir) => {
    await assert.rejects(
      resolvePlugin("sampler", { plugin: "mine.ts" }, dir),
      isPluginError("mine.ts", "resolve", /boom at import/),
    );
  });
  await withModule("export const other = 1;", async (dir) => {
    await assert.rejects(
      resolvePlugin("sampler", { plugin: "mine.ts" }, dir),
      isPluginError("mine.ts", "resolve", /does not export 'plugin'/),
    );
  });
  const def = (create: string) =>
    `import { z } from "zod";\nexport const plugin = { name: "mine", kind: "sampler", options: z.object({}), create: ${create} };`;
  await withModule(def("() => { throw new Error('bad factory'); }"), async (dir) => {
    await assert.rejects(
      resolvePlugin("sampler", { plugin: "mine.ts" }, dir),
      isPluginError("mine", "create", /bad factory/),
    );
  });
  await withModule(def("() => ({ name: 'mine', kind: 'sampler' })"), async (dir) => {
    await assert.rejects(
      resolvePlugin("sampler", { plugin: "mine.ts" }, dir),
      isPluginError("mine", "sample", /lacks hook 'sample'/),
    );
  });
  await assert.rejects(
    resolvePlugin("sampler", { plugin: "missing.ts" }, ROOT),
    isPluginError("missing.ts", "resolve", /Cannot load sampler plugin module/),
  );
});
