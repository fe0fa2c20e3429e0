/**
 * The `local` batch engine: N worker processes (batch/worker.ts) on this machine; each idle worker takes
 * the next shard. A worker that dies fails the items of its shard it had not finished (a rerun of the batch
 * resumes them); scheduling beyond one machine and retries are the Ray engine's.
 *
 * @module
 */
import type { BatchJob } from "./items.ts";
import type { EngineOptions, EngineRun, ItemResult } from "./engine.ts";
import { lines, workerCommand } from "./engine.ts";

/**
 * Run `shards` on `options.workers` local worker processes; `onResult` receives every item's result.
 *
 * @example
 * ```ts ignore
 * await runLocal([[job]], { dir: "out/b", workers: 1, retries: 0 }, (r) => console.log(r));
 * ```
 */
export async function runLocal(
  shards: BatchJob[][],
  options: EngineOptions,
  onResult: (r: ItemResult) => Promise<void> | void,
): Promise<EngineRun> {
  const queue = [...shards];
  const t0 = performance.now();
  const count = Math.min(options.workers, shards.length);
  const loop = async (index: number) => {
    const { cmd, args } = workerCommand(options.dir, `local-${index}`);
    const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "inherit" }).spawn();
    const writer = child.stdin.getWriter();
    const replies = lines(child.stdout);
    const encoder = new TextEncoder();
    try {
      for (let shard = queue.shift(); shard; shard = queue.shift()) {
        for (const [i, job] of shard.entries()) {
          const sent = performance.now();
          let reply: IteratorResult<string> | null = null;
          try {
            await writer.write(encoder.encode(JSON.stringify(job) + "\n"));
            reply = await replies.next();
          } catch { /* the worker is gone */ }
          if (!reply || reply.done) {
            const status = await child.status;
            const why = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
            for (const lost of shard.slice(i)) {
              await onResult({
                ok: false,
                item: lost.name,
                error: `Cannot run item '${lost.name}': worker local-${index} exited (${why})`,
              });
            }
            return;
          }
          const r = JSON.parse(reply.value) as ItemResult;
          if (r.ok) r.overheadMs = performance.now() - sent - r.record.timings.itemMs;
          await onResult(r);
        }
      }
    } finally {
      await writer.close().catch(() => {});
      await child.status;
    }
  };
  await Promise.all(Array.from({ length: count }, (_, i) => loop(i)));
  return { startupMs: 0, wallMs: performance.now() - t0 };
}
