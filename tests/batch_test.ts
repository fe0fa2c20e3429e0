/**
 * `deno task batch` end to end on the default model: 12 prompts on Ray with 2 workers (one worker process
 * SIGKILLed mid-way) give the same video bytes as the local engine and as `deno task run`, every item once;
 * a rerun does nothing and says so; bad input is one error line, a non-zero exit and nothing written.
 * One Ray session (a local instance on 127.0.0.1; its listeners are checked).
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const PROMPTS = join(ROOT, "eval/prompts.jsonl");
const RECIPE = join(ROOT, "recipes/default.yaml");

async function batch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(ROOT, "batch/batch.ts"), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

async function manifest(dir: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(join(dir, "manifest.jsonl")).catch(() => "");
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** Pids of this batch's Deno worker processes (their command line names the output folder). */
async function workerPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes("batch/worker.ts") && cmd.includes(dir)) pids.push(Number(e.name));
  }
  return pids;
}

Deno.test({
  name: "batch: 12 prompts on Ray (2 workers, one killed) equal local and deno task run; rerun does nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "odsora_batch_test_" });
    try {
      const prompts = join(tmp, "prompts.jsonl");
      const lines = (await Deno.readTextFile(PROMPTS)).split("\n").filter((l) => l.trim()).slice(0, 12);
      await Deno.writeTextFile(prompts, lines.join("\n") + "\n");
      const local = join(tmp, "local"), ray = join(tmp, "ray");

      const l = await batch([prompts, "--recipe", RECIPE, "--out", local, "--workers", "2", "--quiet"]);
      assert.deepEqual(l.code, 0, l.stderr);

      // Ray: kill one worker process once a few items are in the manifest
      const args = [
        prompts,
        "--recipe",
        RECIPE,
        "--out",
        ray,
        "--engine",
        "ray",
        "--workers",
        "2",
        "--shard-size",
        "2",
      ];
      const running = batch([...args, "--quiet"]);
      let killed = 0;
      let listeners = "";
      const deadline = Date.now() + 240_000;
      while (!killed && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        if ((await manifest(ray)).length < 3) continue;
        const pids = await workerPids(ray);
        if (pids.length < 2) continue;
        const ss = await new Deno.Command("ss", { args: ["-ltnpH"], stdout: "piped", stderr: "null" })
          .output()
          .catch(() => null);
        listeners = ss ? new TextDecoder().decode(ss.stdout) : "";
        Deno.kill(pids[0], "SIGKILL");
        killed = pids[0];
      }
      const r = await running;
      assert(killed, "no worker process to kill was seen");
      assert.deepEqual(r.code, 0, r.stderr);
      // every Ray server of the embedded instance listens on the loopback address only
      const rayLines = listeners.split("\n").filter((x) => /gcs_server|raylet|ray::/.test(x));
      assert(listeners === "" || rayLines.length > 0, "ss ran but showed no Ray listener");
      for (const line of rayLines) {
        assert.match(line.trim().split(/\s+/)[3], /^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):\d+$/, line);
      }

      const lm = await manifest(local), rm = await manifest(ray);
      assert.deepEqual(lm.length, 12);
      assert.deepEqual(rm.length, 12, "each item exactly once in the manifest");
      assert.deepEqual(new Set(rm.map((x) => x.key)).size, 12);
      assert(rm.some((x) => (x.attempt as number) > 1), "the killed worker's item was retried");
      assert(rm.every((x) => String(x.worker).startsWith("ray-")));
      for (const x of lm) {
        const item = x.item as string;
        for (const f of ["video.mp4", "video.gif"]) {
          const a = await Deno.readFile(join(local, item, f)), b = await Deno.readFile(join(ray, item, f));
          assert.deepEqual(a, b, `${item}/${f}: Ray and local differ`);
        }
        assert.deepEqual((x.analyzed as { color: string }[])[0].color.length > 0, true);
      }
      const leftovers = [...Deno.readDirSync(ray)].map((e) => e.name).filter((n) => n.startsWith("."));
      assert.deepEqual(leftovers, [], "no partial item left");

      // the same pipeline as `deno task run`
      const first = JSON.parse(lines[0]).prompt as string;
      const run = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          join(ROOT, "main.ts"),
          RECIPE,
          "--prompt",
          first,
          "--out",
          join(tmp, "run"),
          "--quiet",
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.deepEqual(run.code, 0, new TextDecoder().decode(run.stderr));
      assert.deepEqual(
        await Deno.readFile(join(tmp, "run/default.mp4")),
        await Deno.readFile(join(ray, "0000-default-s42/video.mp4")),
      );

      // a rerun after it finished: no work, and it says so
      const again = await batch(args);
      assert.deepEqual(again.code, 0, again.stderr);
      assert.match(again.stdout, /nothing to do: all 12 items are done/);
      assert.deepEqual((await manifest(ray)).length, 12);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("batch: bad input is one error line, a non-zero exit and nothing written", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "odsora_batch_bad_" });
  try {
    const good = join(tmp, "good.jsonl");
    await Deno.writeTextFile(good, '{"prompt": "a red circle moving left on a black background"}\n');
    const bad = join(tmp, "bad.jsonl");
    await Deno.writeTextFile(bad, '{"prompt": "a red circle", "color": "red"}\n');
    const out = join(tmp, "out");
    const cases: [string[], RegExp][] = [
      [[good, "--out", out], /--recipe is required/],
      [[good, "--recipe", RECIPE], /--out is required/],
      [[join(tmp, "missing.jsonl"), "--recipe", RECIPE, "--out", out], /Cannot read prompt file/],
      [[bad, "--recipe", RECIPE, "--out", out], /not all of/],
      [[good, "--recipe", RECIPE, "--out", out, "--engine", "spark"], /--engine 'spark'/],
      [[good, "--recipe", RECIPE, "--out", out, "--workers", "0"], /--workers '0'/],
      [
        [good, "--recipe", RECIPE, "--out", out, "--address", "127.0.0.1:6379"],
        /--address needs --engine ray/,
      ],
      [[good, "--recipe", RECIPE, "--out", out, "--variant", "nope"], /Cannot pick variant 'nope'/],
      [[good, "--recipe", join(tmp, "none.yaml"), "--out", out], /Cannot read recipe/],
      [[good, "--recipe", RECIPE, "--out", out, "--bogus"], /Cannot parse the command line/],
    ];
    const results = await Promise.all(cases.map(([args]) => batch(args)));
    results.forEach((r, i) => {
      assert(r.code !== 0, `case ${i}: exit ${r.code}`);
      const errLines = r.stderr.split("\n").filter((l) => l.trim());
      assert.deepEqual(errLines.length, 1, `case ${i}: ${r.stderr}`);
      assert.match(errLines[0], /^batch: error: Cannot /);
      assert.match(errLines[0], cases[i][1]);
    });
    assert.deepEqual(await Deno.stat(out).then(() => true, () => false), false, "nothing written");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
