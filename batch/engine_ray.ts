/**
 * The `ray` batch engine: batch/ray_engine.py (in the project's Python environment, `scripts/py`) starts a
 * local Ray instance on 127.0.0.1 without dashboard, or joins the cluster at `--address`, and runs the
 * shards on one actor per worker, each holding a Deno worker process (batch/worker.ts). Ray restarts a dead
 * worker and retries its shard; this side turns the driver's JSON lines into item results.
 *
 * @module
 */
import type { BatchJob } from "./items.ts";
import { type EngineOptions, type EngineRun, type ItemResult, lines, ROOT } from "./engine.ts";

/**
 * Run `shards` on Ray; `onResult` receives every item's result. Throws when the driver fails (its one
 * error line is the message).
 *
 * @example
 * ```ts ignore
 * await runRay([[job]], { dir: "/abs/out", workers: 2, retries: 3 }, (r) => console.log(r));
 * ```
 */
export async function runRay(
  shards: BatchJob[][],
  options: EngineOptions,
  onResult: (r: ItemResult) => Promise<void> | void,
): Promise<EngineRun> {
  const t0 = performance.now();
  const child = new Deno.Command(`${ROOT}/scripts/py`, {
    args: [`${ROOT}/batch/ray_engine.py`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const config = {
    deno: Deno.execPath(),
    root: ROOT,
    dir: options.dir,
    workers: options.workers,
    retries: options.retries,
    address: options.address ?? null,
    shards,
  };
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(config)));
  await writer.close();
  const stderr = new Response(child.stderr).text();
  let startupMs = 0;
  for await (const line of lines(child.stdout)) {
    let v;
    try {
      v = JSON.parse(line);
    } catch {
      continue; // not a protocol line
    }
    if (v.event === "ready") {
      startupMs = v.startupMs;
      options.log?.(`ray: ${options.workers} worker(s) ready in ${(startupMs / 1000).toFixed(1)} s`);
    } else if (!v.event) await onResult(v as ItemResult);
  }
  const status = await child.status;
  if (!status.success) {
    const text = await stderr;
    const last = text.split("\n").reverse().find((l) => l.startsWith("Cannot ")) ??
      text.split("\n").reverse().find((l) => l.trim()) ?? `exit code ${status.code}`;
    throw new Error(last.startsWith("Cannot ") ? last : `Cannot run the batch on Ray: ${last.trim()}`);
  }
  return { startupMs, wallMs: performance.now() - t0 };
}
