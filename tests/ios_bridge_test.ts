/**
 * The iOS bridge's proof, end to end against the loopback device started with pairing: a paired host runs
 * recipes/default.yaml through `executor: { name: ios }` bit-equal to the local run; an unpaired host, a
 * wrong key, a replayed frame, a tampered payload byte and an oversized declared frame are each refused
 * with one error line and a non-zero exit (real host processes), the device logs each refusal, and it
 * keeps serving the next, correct client.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { pairedLoopback } from "../ios-bridge/_paired.ts";
import { fromBase64, toBase64 } from "../ios-bridge/crypto.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { builtins } from "../builtins.ts";

const ROOT = resolve(import.meta.dirname!, "..");
const RECIPE = join(ROOT, "recipes", "default.yaml");

async function host(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("ios bridge: refusals (unpaired, wrong key, replay, tamper, oversize) then a paired default.yaml run bit-equal to local", async () => {
  const bundle = join(ROOT, "models", "default");
  const paired = await pairedLoopback({ bundleDir: bundle, device: "proof-phone" });
  const tmp = await Deno.makeTempDir({ prefix: "odsora-ios-proof-" });
  try {
    const port = paired.device.port;
    // a recipe file for host processes: recipes/default.yaml with the ios executor and a key file
    const recipeFor = async (name: string, keys: string) => {
      const text = (await Deno.readTextFile(RECIPE))
        .replace(/^bundle: .*$/m, `bundle: ${JSON.stringify(bundle)}`)
        .replace(/^bundle_fallback:[\s\S]*?(?=^prompt:)/m, "")
        .replace(/^executor: .*$/m, `executor: { name: ios, port: ${port}, keys: ${JSON.stringify(keys)} }`);
      assert.match(text, /name: ios/);
      const file = join(tmp, `${name}.yaml`);
      await Deno.writeTextFile(file, text);
      return file;
    };
    const cli = (file: string) => host([join(ROOT, "main.ts"), file, "--quiet", "--out", join(tmp, "out")]);
    const attack = (kind: string) =>
      host([
        join(ROOT, "ios-bridge", "_attack_host.ts"),
        "--attack",
        kind,
        "--port",
        String(port),
        "--keys",
        paired.keysFile,
      ]);

    const wrongKeys = join(tmp, "wrong.json");
    const data = JSON.parse(await Deno.readTextFile(paired.keysFile));
    for (const peer of Object.values(data.peers) as { key: string }[]) {
      const k = fromBase64(peer.key);
      k[0] ^= 1; // one bit off
      peer.key = toBase64(k);
    }
    await Deno.writeTextFile(wrongKeys, JSON.stringify(data));

    const run = async (
      name: string,
      p: () => Promise<{ code: number; stderr: string }>,
      host: RegExp,
      dev: RegExp,
      authenticates = true,
    ) => {
      const before = paired.log.length;
      const r = await p();
      assert.notEqual(r.code, 0, `${name}: the host exits non-zero`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `${name}: one error line, got ${JSON.stringify(r.stderr)}`);
      assert.match(lines[0], host, `${name}: ${lines[0]}`);
      assert.ok(
        paired.log.slice(before).some((l) => dev.test(l)),
        `${name}: device log ${JSON.stringify(paired.log.slice(before))}`,
      );
      assert.ok(!paired.log.slice(before).some((l) => /^paired/.test(l)));
      // refused before authentication: no session opened, so nothing could load
      const opened = paired.log.slice(before).some((l) => /^session opened/.test(l));
      assert.equal(opened, authenticates, `${name}: session opened`);
      // the device frees its session slot once the connection is gone
      await paired.idle();
    };
    await run(
      "unpaired host",
      async () => cli(await recipeFor("unpaired", join(tmp, "nobody.json"))),
      /^odsora: error: Cannot connect to the iOS device at '127\.0\.0\.1:\d+': Cannot open a session for host 'host-[0-9a-f]+' \('odsora'\): it is not paired with device 'proof-phone'/,
      /Cannot open a session for host .* it is not paired/,
      false,
    );
    await run(
      "wrong key",
      async () => cli(await recipeFor("wrong", wrongKeys)),
      /^odsora: error: Cannot connect to the iOS device at .*: Cannot authenticate host 'host-[0-9a-f]+': its proof does not match the key paired with it/,
      /Cannot authenticate host .* its proof does not match/,
      false,
    );
    await run(
      "replayed frame",
      () => attack("replay"),
      /^odsora: error: Cannot read memory: .*the device said: Cannot accept frame: its counter is '0', expected '1' \(a replayed, dropped or reordered frame\)/,
      /Cannot accept frame: its counter is '0', expected '1'/,
    );
    await run(
      "tampered payload byte",
      () => attack("tamper"),
      /^odsora: error: Cannot read memory: .*the device said: Cannot accept frame: its MAC does not match/,
      /Cannot accept frame: its MAC does not match/,
    );
    await run(
      "oversized declared frame",
      () => attack("oversize"),
      /^odsora: error: Cannot read memory: .*the device said: Cannot decode frame: header and payload of '1099511627840' bytes exceed the frame limit '536870912'/,
      /exceed the frame limit/,
    );

    // the next, correct client: recipes/default.yaml on the "phone", bit-equal to the local run
    const local = await generate(
      await loadRecipe(RECIPE, { overrides: { "output.dir": join(tmp, "local") } }),
      { registry: builtins },
    );
    const phone = await generate(
      await loadRecipe(RECIPE, {
        overrides: {
          "output.dir": join(tmp, "phone"),
          executor: { name: "ios", port, keys: paired.keysFile, timeoutMs: 120_000 },
        },
      }),
      { registry: builtins },
    );
    assert.ok(phone.video.data.length > 0 && phone.calls === local.calls);
    assert.deepEqual(phone.video.data, local.video.data, "bit-equal video");
    const report = JSON.parse(await Deno.readTextFile(phone.report));
    assert.equal(report.recipe.executor.name, "ios");
    assert.equal(report.memory.budgetSource.from, "executor");
  } finally {
    await paired.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
