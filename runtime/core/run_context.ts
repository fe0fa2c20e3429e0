/**
 * What every step of a run shares, and its events. The stages take one {@link RunContext} (executor,
 * scheduler, events, cancellation, clock, lane start-up) plus what is their own. The terminal progress,
 * the JSON report, the previews' consumer and the UI stream are observers of the one {@link RunEvent} type;
 * an event nobody listens for (a PNG preview for the CLI) is never produced.
 *
 * @module
 */
import type { Emit, Executor, MemoryScheduler, RunEvent } from "./types.ts";

/** The kinds of run events. */
export type RunEventType = RunEvent["type"];

/** Something that reads run events: of the listed types, or of every type when `types` is absent. */
export interface RunObserver {
  types?: readonly RunEventType[];
  on: Emit;
}

/** The events of a run: emit one, or ask whether anyone listens for a type before building one. */
export interface RunEvents {
  emit: Emit;
  /** Whether an observer listens for events of `type` (producers skip costly events nobody reads). */
  wants(type: RunEventType): boolean;
}

/** What a stage of a run gets from the run (its own inputs come beside it). */
export interface RunContext {
  executor: Executor;
  scheduler: MemoryScheduler;
  /** Where the stage's events go (block runs, memory). */
  emit: Emit;
  /** Cancels the run between blocks. */
  signal?: AbortSignal;
  /** The run's clock: `performance.now()` at run start (event times are ms since then); defaults to now. */
  origin?: number;
  /** Start the plan's lanes (the run measures them: runtime/core/run_memory.ts); defaults to `executor.start`. */
  startLanes?: (lanes: number) => Promise<void>;
}

/**
 * Fan events out to `observers`, each getting only the types it listens for.
 *
 * @example
 * ```ts
 * import { runEvents } from "./run_context.ts";
 * const seen: string[] = [];
 * const events = runEvents([{ types: ["step"], on: (e) => seen.push(e.type) }]);
 * console.assert(events.wants("step") && !events.wants("preview"));
 * ```
 */
export function runEvents(observers: readonly RunObserver[]): RunEvents {
  const wanted = (o: RunObserver, type: RunEventType) => !o.types || o.types.includes(type);
  return {
    emit: (event) => {
      for (const o of observers) if (wanted(o, event.type)) o.on(event);
    },
    wants: (type) => observers.some((o) => wanted(o, type)),
  };
}
