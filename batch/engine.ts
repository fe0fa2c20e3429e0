/**
 * What the batch engines share: options, the per-item result, the worker command and a line reader.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { ManifestRecord } from "./items.ts";

/** Options of a batch engine. */
export interface EngineOptions {
  /** The output folder (shared by every worker; on a cluster, a path every node sees). */
  dir: string;
  /** Worker processes (Ray: actors, one Deno worker each). */
  workers: number;
  /** Ray: restarts of a dead worker and retries of its shard. */
  retries: number;
  /** Ray: the cluster to join (`ray://...` or `HOST:PORT`); none starts a local instance. */
  address?: string;
  /** Receives engine progress lines (Ray start-up). */
  log?: (line: string) => void;
}

/** One item's result: its manifest record, or why it failed. */
export type ItemResult =
  | {
    ok: true;
    record: ManifestRecord;
    /** Time the engine added to the worker's own time for this item, ms (its share of a shard's). */
    overheadMs?: number;
  }
  | { ok: false; item: string | null; error: string };

/** What an engine run took. */
export interface EngineRun {
  /** Engine start-up before the first shard was handed out (Ray: init and actors), ms. */
  startupMs: number;
  wallMs: number;
}

/** The repository root (batch/..). */
export const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The command that starts one worker process for `dir` named `worker`. */
export function workerCommand(dir: string, worker: string): { cmd: string; args: string[] } {
  return {
    cmd: Deno.execPath(),
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      `${ROOT}/batch/worker.ts`,
      "--out",
      dir,
      "--worker",
      worker,
    ],
  };
}

/** The lines of a byte stream. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) yield line;
    }
  }
  if (buffer.trim()) yield buffer;
}
