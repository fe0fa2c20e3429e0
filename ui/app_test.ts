import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { defaultBundle } from "./_default_bundle.ts";
import { readSse } from "./_sse.ts";
import { createApp } from "./app.ts";
import { runtimeBackend } from "./runtime_backend.ts";

const RECIPES = join(import.meta.dirname!, "..", "recipes");
const PROMPT = "a red circle moving left on a black background";

async function withApp(
  fn: (app: ReturnType<typeof createApp>, outDir: string) => Promise<void>,
): Promise<void> {
  await defaultBundle();
  const outDir = await Deno.makeTempDir({ prefix: "odsora-ui-test-" });
  try {
    await fn(createApp({ backend: runtimeBackend({ recipesDir: RECIPES }), outDir }), outDir);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
}

const post = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

async function refused(
  app: ReturnType<typeof createApp>,
  body: unknown,
  status: number,
  message: RegExp | string,
) {
  const response = await app.request("/api/runs", post(body));
  const json = await response.json();
  assert.equal(response.status, status, `${JSON.stringify(body).slice(0, 80)} -> ${JSON.stringify(json)}`);
  if (typeof message === "string") assert.equal(json.error, message);
  else assert.match(json.error, message);
  assert.doesNotMatch(json.error, /\n\s+at /, "no stack trace");
}

Deno.test("POST /api/runs answers bad bodies with 400 and one clear message", async () => {
  await withApp(async (app) => {
    await refused(app, "{not json", 400, "Cannot read the body: not valid JSON");
    await refused(app, { recipe: "default" }, 400, /^Cannot start a generation: prompt: /);
    await refused(
      app,
      { recipe: "default", prompt: "  " },
      400,
      "Cannot start a generation: prompt: must not be empty",
    );
    await refused(
      app,
      { recipe: "default", prompt: PROMPT, steps: 0 },
      400,
      /^Cannot start a generation: steps: /,
    );
    await refused(
      app,
      { recipe: "default", prompt: PROMPT, seed: -1 },
      400,
      /^Cannot start a generation: seed: /,
    );
    await refused(app, { recipe: "default", prompt: PROMPT, frames: 99 }, 400, /Unrecognized key: "frames"/);
    await refused(
      app,
      { recipe: "default", prompt: PROMPT, sampler: { name: "./evil.ts" } },
      400,
      /sampler\.name: must be a built-in plugin name/,
    );
    await refused(
      app,
      { recipe: "default", prompt: PROMPT, sampler: { name: "warp" } },
      400,
      /^Cannot resolve sampler 'warp': no built-in has that name/,
    );
    await refused(
      app,
      { recipe: "default", prompt: PROMPT, sampler: { name: "lpl", options: { leapAt: -2 } } },
      400,
      /^Cannot configure sampler 'lpl': option 'leapAt'/,
    );
    await refused(
      app,
      { recipe: "default", prompt: PROMPT, scheduler: { name: "resident", budget: "lots" } },
      400,
      /'scheduler' of the request .*'lots' is not a budget/,
    );
    await refused(
      app,
      { recipe: "missing", prompt: PROMPT },
      400,
      'Cannot find recipe "missing": no such file in recipes/',
    );
    await refused(
      app,
      { recipe: "default", prompt: "x".repeat(70 * 1024) },
      400,
      "Cannot read the body: larger than 64 KiB",
    );
  });
});

Deno.test("paths from requests never leave recipes/ or the output folder", async () => {
  await withApp(async (app) => {
    for (const recipe of ["../README", "../recipes/default", "/etc/passwd", "..", "default/../../x"]) {
      await refused(
        app,
        { recipe, prompt: PROMPT },
        400,
        /^Cannot start a generation: recipe: must be a recipe name/,
      );
    }
    for (
      const path of [
        "/api/runs/..%2F..%2Fetc%2Fpasswd",
        "/api/runs/r0000000/..%2F..%2Fdeno.json",
        "/static/..%2Fapp.ts",
        "/static/%2e%2e%2fserver.ts",
        "/api/runs/r0000000/%2e%2e",
      ]
    ) {
      const response = await app.request(path);
      assert.equal(response.status, 404, path);
      assert.match((await response.json()).error, /^Cannot (find|read)/);
    }
  });
});

Deno.test("GET / serves the page, its assets, the recipes and the plugins", async () => {
  await withApp(async (app) => {
    const page = await app.request("/");
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(await page.text(), /<script type="module" src="\/static\/app.js">/);
    for (
      const file of [
        "app.js",
        "form.js",
        "result.js",
        "line_charts.js",
        "timeline_chart.js",
        "live.js",
        "svg.js",
        "style.css",
      ]
    ) {
      assert.equal((await app.request(`/static/${file}`)).status, 200, file);
    }
    const recipes = await (await app.request("/api/recipes")).json();
    const standard = recipes.find((r: { name: string }) => r.name === "default");
    assert.equal(standard.prompt, PROMPT);
    assert.deepEqual(standard.sampler, { name: "euler", module: null, options: {} });
    const plugins = await (await app.request("/api/plugins")).json();
    assert.ok(plugins.sampler.some((p: { name: string }) => p.name === "lpl-dynamic"));
    const lpl = plugins.sampler.find((p: { name: string }) => p.name === "lpl");
    assert.equal(lpl.options.properties.leapAt.type, "integer");
  });
});

Deno.test("a run streams its events, previews included, and serves its video, GIF and report", async () => {
  await withApp(async (app, outDir) => {
    const started = await app.request(
      "/api/runs",
      post({ recipe: "default", prompt: PROMPT, steps: 3, seed: 7 }),
    );
    assert.equal(started.status, 202);
    const { id, events } = await started.json();
    const run = await readSse(await app.request(events));
    assert.deepEqual(run.end, { status: "done", message: null });
    const types = new Set(run.events.map((e) => e.type));
    for (const type of ["run", "stage", "step", "block", "memory", "preview", "done"]) {
      assert.ok(types.has(type), type);
    }
    assert.deepEqual(run.events.filter((e) => e.type === "step").map((e) => [e.step, e.total]), [[0, 3], [
      1,
      3,
    ], [2, 3]]);
    const preview = run.events.find((e) => e.type === "preview")!;
    const png = Uint8Array.from(atob(preview.png as string), (c) => c.charCodeAt(0));
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    const status = await (await app.request(`/api/runs/${id}`)).json();
    assert.equal(status.status, "done");
    const mp4 = await app.request(status.files["video.mp4"]);
    assert.equal(mp4.headers.get("content-type"), "video/mp4");
    const bytes = new Uint8Array(await mp4.arrayBuffer());
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), "ftyp");
    const part = await app.request(status.files["video.mp4"], { headers: { range: "bytes=4-7" } });
    assert.equal(part.status, 206);
    assert.equal(await part.text(), "ftyp");
    const gif = await app.request(status.files["video.gif"]);
    assert.match(gif.headers.get("content-disposition")!, /^attachment; filename="odsora-r[0-9a-z]+\.gif"$/);
    assert.equal(new TextDecoder().decode((await gif.arrayBuffer()).slice(0, 6)), "GIF89a");
    // a reconnecting EventSource resumes after the last event it got (no replay, no repeated warnings)
    const last = run.events.length - 1;
    const resumed = await readSse(
      await app.request(events, { headers: { "last-event-id": String(last - 2) } }),
    );
    assert.deepEqual(resumed.events, run.events.slice(last - 1));
    assert.deepEqual([resumed.warnings, resumed.end], [[], run.end]);
    assert.deepEqual(await (await app.request("/api/runs")).json(), [{ id, status: "done" }]);
    const report = await (await app.request(status.files["report.json"])).json();
    assert.equal(report.schema, "odsora.report/1");
    assert.equal(report.seed, 7);
    assert.ok(existsSync(join(outDir, id)));
  });
});

Deno.test("one run at a time: a second request gets 409; cancel stops the run and leaves no files", async () => {
  await withApp(async (app, outDir) => {
    const first =
      await (await app.request("/api/runs", post({ recipe: "default", prompt: PROMPT, steps: 200 }))).json();
    await refused(
      app,
      { recipe: "default", prompt: PROMPT },
      409,
      `Cannot start a generation: run "${first.id}" is still running (wait for it or cancel it)`,
    );
    let cancelled: Promise<Response> | null = null;
    const stream = readSse(await app.request(first.events), (event) => {
      // cancel once the denoiser is under way: the run stops between blocks
      if (event.type === "step" && !cancelled) {
        cancelled = Promise.resolve(app.request(`/api/runs/${first.id}/cancel`, { method: "POST" }));
      }
    });
    const run = await stream;
    assert.equal((await cancelled!).status, 202);
    assert.deepEqual(run.end, { status: "cancelled", message: "Run cancelled" });
    assert.ok(!run.events.some((e) => e.type === "done"));
    assert.ok(run.events.filter((e) => e.type === "step").length < 200);
    assert.deepEqual([...Deno.readDirSync(outDir)], [], "no partial files");
    assert.equal((await app.request(`/api/runs/${first.id}/video.mp4`)).status, 404);
    const again = await app.request(`/api/runs/${first.id}/cancel`, { method: "POST" });
    assert.equal(again.status, 409);
    assert.equal(
      (await again.json()).error,
      `Cannot cancel run "${first.id}": it has already ended (cancelled)`,
    );
    assert.equal((await app.request("/api/runs/r0000000/cancel", { method: "POST" })).status, 404);
  });
});
