/**
 * A sampler written outside the repository, against the plugin entry point (plugin.ts) alone: in a temp
 * folder with its own deno.json, it is type-checked and tested with `assertSamplerConforms`; a wrong step
 * fails that test and a wrong hook fails the type check.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./_bundles.ts";

const SAMPLER = (scale: string, ret = "x") =>
  `import { z } from "zod";
import { addScaled, definePlugin, eulerDt } from "odsora/plugin.ts";

export const plugin = definePlugin({
  name: "outside-euler",
  kind: "sampler",
  options: z.object({}).strict(),
  create: () => ({
    async sample(model, x, { timesteps: ts }) {
      for (let i = 0; i < ts.length; i++) x = addScaled(x, await model(x, ts[i], i), ${scale} * eulerDt(ts, i));
      return ${ret};
    },
  }),
});
`;

const TEST = `import { assertSamplerConforms } from "odsora/plugin.ts";
import { plugin } from "./sampler.ts";
Deno.test("outside-euler conforms", () => assertSamplerConforms(plugin, { order: 1 }));
`;

async function deno(cwd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder();
  return { ok: r.success, out: text.decode(r.stdout) + text.decode(r.stderr) };
}

async function project(sampler: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "odsora-plugin-" });
  const imports = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).imports;
  const config = { imports: { zod: imports.zod, "odsora/": pathToFileURL(ROOT + "/").href } };
  await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify(config));
  await Deno.writeTextFile(join(dir, "sampler.ts"), sampler);
  await Deno.writeTextFile(join(dir, "sampler_test.ts"), TEST);
  return dir;
}

Deno.test("a sampler outside the repo type-checks against plugin.ts and passes the conformance test", async () => {
  const dir = await project(SAMPLER("1"));
  try {
    const check = await deno(dir, ["check", "sampler.ts", "sampler_test.ts"]);
    assert.ok(check.ok, check.out);
    const test = await deno(dir, ["test", "-A", "--no-check", "sampler_test.ts"]);
    assert.ok(test.ok && /1 passed/.test(test.out), test.out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the same outside sampler fails conformance with a wrong step and the type check with a wrong hook", async () => {
  const wrong = await project(SAMPLER("1.5"));
  const typo = await project(SAMPLER("1", "x.data"));
  try {
    const test = await deno(wrong, ["test", "-A", "--no-check", "sampler_test.ts"]);
    assert.ok(!test.ok && /lands on a straight flow's data point/.test(test.out), test.out);
    const check = await deno(typo, ["check", "sampler.ts"]);
    assert.ok(!check.ok && /TS2322|not assignable/.test(check.out), check.out);
  } finally {
    await Deno.remove(wrong, { recursive: true });
    await Deno.remove(typo, { recursive: true });
  }
});
