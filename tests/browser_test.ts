/**
 * The preview UI in a real browser: `ui/server.ts` on a free port, Debian's chromium driven headless by
 * playwright-core. Generate with the default recipe (dynamic LPL, TDTM and the concurrent scheduler chosen in
 * the form), see progress events arrive while it runs, a preview image, a playable <video>, the load/compute
 * timeline and the decisions chart (dynamic LPL's cosines); save a screenshot as a test artifact
 * (`out/test-artifacts/browser_ui.png`; with UPDATE_SCREENSHOT=1 also `docs/ui.png` for the README).
 *
 * Skipped, with the reason printed, only where /usr/bin/chromium is absent outside CI; in CI (`CI` set)
 * a missing chromium is a failure (`.ci/run` installs it with apt-get).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { defaultBundle } from "../ui/_default_bundle.ts";

const ROOT = join(import.meta.dirname!, "..");
const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const missing = !existsSync(CHROMIUM);
if (missing && !Deno.env.get("CI")) {
  console.log(
    `tests/browser_test.ts: skipped: ${CHROMIUM} is absent (install it: apt-get install -y chromium)`,
  );
}

/** Starts `ui/server.ts` on a free port; resolves to its URL and a stop function. */
async function startServer(outDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "ui/server.ts", "--port", "0", "--out", outDir],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/http:\/\/\S+\//.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Cannot start ui/server.ts: it exited before listening (${text.trim()})`);
    text += value;
  }
  const url = text.match(/http:\/\/\S+\//)![0];
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await reader.cancel();
      await child.status;
    },
  };
}

Deno.test({
  name: "the page generates with the default recipe: live progress, a preview, a playing video, the charts",
  ignore: missing && !Deno.env.get("CI"),
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  assert.ok(!missing, `${CHROMIUM} is required in CI (.ci/run installs it with apt-get)`);
  await defaultBundle();
  const outDir = await Deno.makeTempDir({ prefix: "odsora-ui-browser-" });
  const profile = await Deno.makeTempDir({ prefix: "odsora-chromium-" });
  const server = await startServer(outDir);
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1360, height: 900 },
  });
  const errors: string[] = [];
  try {
    const page = await browser.newPage();
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(server.url);
    await page.waitForSelector("body[data-ready]", { timeout: 20_000 });
    // the form starts from the default recipe; turn on what makes odsora different: dynamic LPL, TDTM for
    // the first steps, and the concurrent scheduler's two lanes (load the next block while one runs)
    assert.equal(await page.inputValue("#recipe"), "default");
    assert.equal(await page.inputValue("#sampler"), "euler");
    await page.fill("#steps", "12");
    await page.selectOption("#sampler", "lpl-dynamic");
    assert.equal(await page.inputValue('#sampler-options [data-key="preset"]'), "paper");
    await page.check('#token-ops [data-use="tdtm"]');
    await page.fill('#token-ops .token-op:has([data-use="tdtm"]) [data-key="mergeSteps"]', "4");
    await page.selectOption("#scheduler", "concurrent");
    // in the page: record, each time it counts a progress event, the run state at that moment
    await page.evaluate(`(() => {
      globalThis.progressSeen = [];
      new MutationObserver(() => progressSeen.push(document.body.dataset.state + ":" + document.body.dataset.events))
        .observe(document.body, { attributes: true, attributeFilter: ["data-events"] });
    })()`);
    await page.click("#generate");
    await page.waitForSelector("body[data-result]", { timeout: 120_000 });
    assert.equal(
      await page.getAttribute("body", "data-result"),
      "done",
      await page.textContent("#message") ?? "",
    );
    const seen = await page.evaluate<string[]>("progressSeen");
    assert.ok(
      seen.filter((s) => s.startsWith("running:")).length >= 10,
      `progress while running: ${seen.slice(0, 5)}`,
    );
    assert.match((await page.textContent("#step"))!, /^\d+ \/ 12 \(t = [\d.]+\)$/);
    assert.match((await page.textContent("#decisions"))!, /cosine/);
    assert.ok(Number(await page.getAttribute("body", "data-previews")) >= 1, "at least one preview image");
    const preview = await page.evaluate<{ hidden: boolean; width: number; src: string }>(
      `(() => { const img = document.querySelector("#preview");
        return { hidden: img.hidden, width: img.naturalWidth, src: img.src.slice(0, 22) }; })()`,
    );
    assert.deepEqual([preview.hidden, preview.src], [false, "data:image/png;base64,"]);
    assert.ok(preview.width > 0);
    await page.waitForFunction(
      `(() => { const v = document.querySelector("video"); return v.readyState >= 2 && v.duration > 0; })()`,
      undefined,
      { timeout: 20_000 },
    );
    const timeline = await page.evaluate<{ load: number; run: number }>(`({
      load: document.querySelectorAll('svg[data-chart="timeline"] rect.load').length,
      run: document.querySelectorAll('svg[data-chart="timeline"] rect.run').length,
    })`);
    assert.ok(timeline.load > 0 && timeline.run > 0, JSON.stringify(timeline));
    assert.ok(await page.isVisible('svg[data-chart="timeline"] >> text="lane 1 load"'), "two lanes");
    assert.ok(await page.isVisible('svg[data-chart="memory"]'));
    assert.ok(
      await page.isVisible('svg[data-chart="decisions"]'),
      "dynamic LPL's per-step cosine, from its decisions",
    );
    // it plays; then a still frame for the screenshot rather than the player's buffering state
    await page.waitForFunction(
      `(() => { const v = document.querySelector("video"); return !v.paused && v.currentTime > 0.3; })()`,
      undefined,
      { timeout: 20_000 },
    );
    await page.evaluate(`(async () => {
      const v = document.querySelector("video");
      v.pause();
      v.currentTime = 1;
      await new Promise((resolve) => v.addEventListener("seeked", resolve, { once: true }));
      while (v.readyState < 4) await new Promise((resolve) => setTimeout(resolve, 50));
    })()`);
    await page.waitForTimeout(300);
    assert.deepEqual(errors, []);
    const artifacts = join(ROOT, "out", "test-artifacts");
    await Deno.mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "browser_ui.png"), fullPage: true });
    if (Deno.env.get("UPDATE_SCREENSHOT") === "1") {
      await page.screenshot({ path: join(ROOT, "docs", "ui.png"), fullPage: true });
    }
  } finally {
    await browser.close();
    await server.stop();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
});
