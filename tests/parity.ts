/**
 * `deno task parity DIR...`: run golden fixtures through the Deno runtime and its executor. Each DIR is a
 * fixture folder (config.json + safetensors) or a folder of them (e.g. ../shared/golden). For every
 * fixture, the first check that recognises it builds a bundle from the fixture's weights with the exporter
 * (`scripts/py -m export fixture`, cached in .odsora-cache/) and prints `rel_err=... PASS|FAIL` per output
 * (tolerance 1e-4 relative L2; timesteps must be exact). Exits 1 on any FAIL or unrecognised fixture.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { resolvePlugin } from "../builtins.ts";
import type { Bundle } from "../runtime/bundle/bundle.ts";
import {
  type Fixture,
  fixtureBundle,
  openFixture,
  type ParityCheck,
  type ParityResult,
  TOLERANCE,
} from "./_parity.ts";
import { checkOndeviceFixture, isOndeviceFixture } from "./parity_ondevice.ts";
import { rflowSample } from "./parity_rflow.ts";
import { stdit3Forward } from "./parity_stdit3.ts";
import { t5Encoder } from "./parity_text.ts";
import { vaeDecode } from "./parity_vae.ts";

/** The On-device-Sora fixtures (LPL/TDTM runs), checked by tests/parity_ondevice.ts on the fixture's bundle. */
const ondevice: ParityCheck = {
  name: "ondevice",
  matches: (fx) => isOndeviceFixture(fx.config),
  async run(fx, env) {
    const bundle = await env.bundle(fx);
    const checks = await checkOndeviceFixture(fx.dir, { bundle: bundle.dir });
    return checks.map((c) => ({
      output: `${c.run}: ${c.what}`,
      relErr: NaN,
      value: String(c.value),
      pass: c.ok,
      detail: `expected ${c.expected}`,
    }));
  },
};

/** The checks, in the order they are tried. */
export function parityChecks(): ParityCheck[] {
  return [ondevice, rflowSample, stdit3Forward, t5Encoder, vaeDecode];
}

/** Fixture folders under the given paths (a path with config.json is one; otherwise its subfolders). */
export function fixtureDirs(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (existsSync(join(p, "config.json"))) out.push(resolve(p));
    else if (existsSync(p)) {
      out.push(
        ...[...Deno.readDirSync(p)].filter((e) => e.isDirectory && existsSync(join(p, e.name, "config.json")))
          .map((e) => resolve(p, e.name)).sort(),
      );
    } else throw new Error(`Cannot find fixtures: '${p}' does not exist`);
  }
  return out;
}

/** The outcome of one fixture. */
export interface FixtureOutcome {
  fixture: string;
  check: string | null;
  results: ParityResult[];
  error: string | null;
}

/** Whether a fixture passed: a check ran, nothing threw, every output within tolerance. */
export const passed = (o: FixtureOutcome): boolean =>
  o.check !== null && o.error === null && o.results.length > 0 && o.results.every((r) => r.pass);

/** Run one fixture folder through its check. */
export async function runFixture(
  fx: Fixture,
  options: { scheduler?: string; bundle?: (fx: Fixture) => Promise<Bundle> } = {},
): Promise<FixtureOutcome> {
  const check = parityChecks().find((c) => c.matches(fx));
  if (!check) return { fixture: fx.name, check: null, results: [], error: "no parity check recognises it" };
  const executor = await resolvePlugin("executor", { name: "local", threads: 1 }, ".");
  try {
    const scheduler = await resolvePlugin("scheduler", { name: options.scheduler ?? "resident" }, ".");
    const results = await check.run(fx, { bundle: options.bundle ?? fixtureBundle, executor, scheduler });
    return { fixture: fx.name, check: check.name, results, error: null };
  } catch (e) {
    return { fixture: fx.name, check: check.name, results: [], error: (e as Error).message };
  } finally {
    await executor.close();
  }
}

/** One line per output: `fixture/output rel_err=... PASS|FAIL`. */
export function formatOutcome(o: FixtureOutcome): string[] {
  if (o.error !== null) return [`${o.fixture} FAIL: ${o.error}`];
  if (o.results.length === 0) return [`${o.fixture} FAIL: the check compared nothing`];
  return o.results.map((r) =>
    `${o.fixture}/${r.output} ${
      r.value !== undefined ? `= ${r.value}` : `rel_err=${r.relErr.toExponential(3)}`
    } ${r.pass ? "PASS" : "FAIL"}${r.detail ? ` (${r.detail})` : ""}`
  );
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { scheduler: { type: "string", default: "resident" } },
  });
  if (positionals.length === 0) {
    console.error("usage: deno task parity [--scheduler resident|sequential|...] FIXTURE_DIR...");
    return 2;
  }
  const dirs = fixtureDirs(positionals);
  let failed = 0;
  for (const dir of dirs) {
    const outcome = await runFixture(await openFixture(dir), { scheduler: values.scheduler });
    for (const line of formatOutcome(outcome)) console.log(line);
    if (!passed(outcome)) failed++;
  }
  console.log(
    `parity: ${dirs.length - failed}/${dirs.length} fixtures pass (tolerance ${TOLERANCE} relative L2)`,
  );
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`parity: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
