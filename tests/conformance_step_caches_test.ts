/**
 * Conformance of every step cache (the built-ins of plugins/step_cache/mod.ts and the step-cache modules
 * under plugins/examples/), and how a cache composes with LPL, dynamic LPL, TDTM and CI-DL, on the default
 * model's denoiser.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stageOf } from "../runtime/bundle/bundle.ts";
import type { PluginDefinition, RunEvent } from "../runtime/core/types.ts";
import { fixedCache, stepCaches } from "../plugins/step_cache/mod.ts";
import { tdtm } from "../plugins/tdtm.ts";
import { lpl } from "../samplers/lpl.ts";
import { lplDynamic } from "../samplers/lpl_dynamic.ts";
import { ciDl } from "../schedulers/ci_dl.ts";
import { ROOT } from "./_bundles.ts";
import {
  assertReusedCallsSkipMiddle,
  assertStepCacheConforms,
  cacheEvents,
  type ConformanceOptions,
  defaultModelInputs,
  denoiseCached,
} from "./step_cache_conformance.ts";
import { instantiate } from "../runtime/core/registry.ts";

const CASES: Record<string, ConformanceOptions> = {
  teacache: { off: { threshold: 0 }, on: { threshold: 0.5 } },
  easycache: { off: { threshold: 0 }, on: { threshold: 0.3, warmup: 2 } },
  fixed: { off: { steps: [] }, on: { steps: [3, 5, 7] } },
  "every-other-step": { off: { every: 0 }, on: { every: 2 } },
};

async function examples(): Promise<PluginDefinition<"step-cache">[]> {
  const found: PluginDefinition<"step-cache">[] = [];
  const dir = join(ROOT, "plugins", "examples");
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    const mod = await import(`file://${join(dir, entry.name)}`);
    if (mod.plugin?.kind === "step-cache") found.push(mod.plugin);
  }
  return found;
}

const ALL = [...stepCaches, ...await examples()];
const PROMPT = "a red circle moving left on a black background";
const make = (def: PluginDefinition<"step-cache">, o: Record<string, unknown>) => instantiate(def, o);

Deno.test("step-cache conformance covers every built-in and the example module", () => {
  const names = ALL.map((d) => d.name);
  for (const name of ["teacache", "easycache", "fixed", "every-other-step"]) {
    assert.ok(names.includes(name), name);
  }
  for (const name of names) assert.ok(CASES[name], `no conformance options for '${name}'`);
});

Deno.test("step caches conform on the default model (off = bit-equal, reasons, no middle block, abort)", async (t) => {
  const inputs = await defaultModelInputs(PROMPT, 12);
  try {
    const baseline = (await denoiseCached(inputs)).latent;
    for (const def of ALL) {
      await t.step(def.name, () => assertStepCacheConforms(def, CASES[def.name], inputs, baseline));
    }
  } finally {
    await inputs.executor.close();
  }
});

Deno.test("step caches compose with LPL, dynamic LPL, TDTM and CI-DL", async (t) => {
  const inputs = await defaultModelInputs(PROMPT, 30);
  const everyStep = Array.from({ length: 30 }, (_, i) => i);
  try {
    await t.step("LPL: the leap step is computed, earlier steps may reuse", async () => {
      const r = await denoiseCached(inputs, {
        cache: make(fixedCache, { steps: everyStep }),
        sampler: instantiate(lpl, { leapAt: 15 }),
      });
      const d = cacheEvents(r.events);
      assert.equal(d.length, 16);
      assert.equal(d.at(-1)!.step, 15);
      assert.equal(d.at(-1)!.reused, false);
      assert.match(d.at(-1)!.reason, /sampler needs this call computed/);
      assert.ok(d.slice(1, -1).every((x) => x.reused));
      assertReusedCallsSkipMiddle(inputs.bundle, r.events);
    });

    await t.step(
      "dynamic LPL: a cosine next to a reused call is not evidence; the leap uses a computed drift",
      async () => {
        const reusedSteps = Array.from({ length: 15 }, (_, i) => 2 * i + 1); // odd steps
        const r = await denoiseCached(inputs, {
          cache: make(fixedCache, { steps: reusedSteps }),
          sampler: instantiate(lplDynamic, { preset: "paper", minSteps: 4 }),
        });
        const reused = new Set(cacheEvents(r.events).filter((d) => d.reused).map((d) => d.step));
        assert.ok(reused.size > 0);
        const decisions = r.events.flatMap((e) => (e.type === "decision" ? [e] : []));
        // with every other call reused, no cosine is between two consecutive computed drifts
        for (const d of decisions.filter((d) => /cosine/.test(d.message))) {
          assert.match(d.message, /not evidence/, d.message);
          assert.equal(d.data?.checked, false);
        }
        const leap = decisions.find((d) => d.data?.leap === true && /^leap/.test(d.message));
        assert.equal(leap, undefined, "no leap without evidence");
        assert.equal(r.calls, 30);
      },
    );

    await t.step("TDTM: a merged step's residual is never reused on an unmerged step", async () => {
      const r = await denoiseCached(inputs, {
        cache: make(fixedCache, { steps: everyStep }),
        tokenOps: [instantiate(tdtm, { mergeSteps: 15 })],
      });
      const d = cacheEvents(r.events);
      const at15 = d.find((x) => x.step === 15)!;
      assert.equal(at15.reused, false);
      assert.match(at15.reason, /no (cached )?residual/);
      assert.ok(d.filter((x) => x.step !== 0 && x.step !== 15).every((x) => x.reused));
    });

    await t.step("CI-DL: reused steps load nothing when the last block is kept resident", async () => {
      const blocks = stageOf(inputs.bundle, "denoiser").blocks;
      const total = blocks.reduce((a, b) => a + b.bytes, 0);
      const events: RunEvent[] = [];
      const r = await denoiseCached(inputs, {
        cache: make(fixedCache, { steps: [2, 3, 5, 6, 8] }),
        scheduler: instantiate(ciDl, { residentLast: true }),
        budgetBytes: Math.floor(total / 2),
        onEvent: (e) => events.push(e),
      });
      assert.ok(r.plan.resident.includes(blocks.at(-1)!.name), `resident: ${r.plan.resident}`);
      assert.ok(r.plan.resident.length < blocks.length, "the budget streams some blocks");
      const reused = assertReusedCallsSkipMiddle(inputs.bundle, r.events);
      assert.deepEqual(reused, [2, 3, 5, 6, 8]);
      const loads = (pass: number) =>
        events.filter((e) => e.type === "block" && e.op === "load" && e.pass === pass);
      for (const pass of reused) assert.equal(loads(pass).length, 0, `reused call ${pass} loaded blocks`);
      assert.ok(loads(4).length > 0, "a computed call streams blocks");
    });
  } finally {
    await inputs.executor.close();
  }
});

Deno.test("runtime/ names no caching method (the step-cache kind is generic)", () => {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) walk(path);
      else if (
        e.name.endsWith(".ts") && /teacache|easycache|magcache|lemica/i.test(Deno.readTextFileSync(path))
      ) {
        found.push(path);
      }
    }
  };
  walk(join(ROOT, "runtime"));
  assert.deepEqual(found, []);
});
