/**
 * One generation at a time: the slot that holds the running job, its event log (replayed to late
 * subscribers) and its cancellation, plus a short history of finished runs.
 *
 * @module
 */
import type { Emit, RunEvent } from "../runtime/core/types.ts";

/** Where a run stands. */
export type RunStatus = "running" | "done" | "error" | "cancelled";

/** What a subscriber receives: every run event in order (and warnings), then one `end`. */
export type SlotMessage =
  | { kind: "event"; seq: number; event: RunEvent }
  | { kind: "warning"; message: string }
  | { kind: "end"; status: Exclude<RunStatus, "running">; message: string | null };

/** The work of one run: it emits events and warnings, and stops early when `signal` aborts. */
export type RunTask = (emit: Emit, signal: AbortSignal, warn: (message: string) => void) => Promise<void>;

/** A run the slot knows about (running or recently finished). */
export interface RunRecord {
  readonly id: string;
  status: RunStatus;
  message: string | null;
  readonly events: RunEvent[];
  readonly warnings: string[];
  /** The `done` event, once the run has produced one. */
  done: Extract<RunEvent, { type: "done" }> | null;
  readonly controller: AbortController;
  readonly listeners: Set<(message: SlotMessage) => void>;
  finished: Promise<void>;
}

/** Thrown by {@link RunSlot.start} while another run is still going. */
export class BusyError extends Error {
  override name = "BusyError";
  constructor(readonly runningId: string) {
    super(`Cannot start a generation: run "${runningId}" is still running (wait for it or cancel it)`);
  }
}

/**
 * Holds at most one running generation and remembers the last `keep` runs.
 *
 * @example
 * ```ts
 * const slot = new RunSlot();
 * const run = slot.start("r000001", async (emit) => emit({ type: "error", message: "nothing to do" }));
 * await run.finished;
 * ```
 */
export class RunSlot {
  readonly #runs = new Map<string, RunRecord>();
  #running: RunRecord | null = null;

  constructor(readonly keep = 8) {}

  /** The running run, if any. */
  get running(): RunRecord | null {
    return this.#running;
  }

  /** A known run by id. */
  get(id: string): RunRecord | undefined {
    return this.#runs.get(id);
  }

  /** The runs it remembers, newest first. */
  list(): RunRecord[] {
    return [...this.#runs.values()].reverse();
  }

  /** Starts `task` as run `id`; throws {@link BusyError} while another run is going. */
  start(id: string, task: RunTask, options: { onEnd?: (run: RunRecord) => Promise<void> } = {}): RunRecord {
    if (this.#running) throw new BusyError(this.#running.id);
    const run: RunRecord = {
      id,
      status: "running",
      message: null,
      events: [],
      warnings: [],
      done: null,
      controller: new AbortController(),
      listeners: new Set(),
      finished: Promise.resolve(),
    };
    this.#running = run;
    this.#runs.set(id, run);
    this.#forgetOld();
    const emit: Emit = (event) => {
      if (run.status !== "running") return;
      run.events.push(event);
      if (event.type === "done") run.done = event;
      this.#send(run, { kind: "event", seq: run.events.length - 1, event });
    };
    const warn = (message: string) => {
      if (run.status !== "running") return;
      run.warnings.push(message);
      this.#send(run, { kind: "warning", message });
    };
    run.finished = (async () => {
      let status: Exclude<RunStatus, "running"> = "done";
      let message: string | null = null;
      try {
        await task(emit, run.controller.signal, warn);
        if (run.controller.signal.aborted) [status, message] = ["cancelled", "Run cancelled"];
        else if (!run.done) [status, message] = ["error", "Cannot finish the run: it ended without a result"];
      } catch (error) {
        if (run.controller.signal.aborted) [status, message] = ["cancelled", "Run cancelled"];
        else [status, message] = ["error", error instanceof Error ? error.message : String(error)];
      }
      const lastError = run.events.findLast((event) => event.type === "error");
      if (status === "done" && lastError?.type === "error") [status, message] = ["error", lastError.message];
      if (status !== "done") run.done = null;
      run.status = status;
      run.message = message;
      try {
        await options.onEnd?.(run);
      } finally {
        this.#running = null;
        this.#send(run, { kind: "end", status, message });
        run.listeners.clear();
      }
    })();
    return run;
  }

  /** Asks run `id` to stop (between blocks); false when it is not running. */
  cancel(id: string): boolean {
    const run = this.#runs.get(id);
    if (!run || run.status !== "running") return false;
    run.controller.abort();
    return true;
  }

  /**
   * Replays run `id`'s messages so far to `listener` (only events after `after`, and no warnings, when a
   * client resumes), then forwards new ones until the end. Returns the unsubscribe function.
   */
  subscribe(
    id: string,
    listener: (message: SlotMessage) => void,
    options: { after?: number } = {},
  ): () => void {
    const run = this.#runs.get(id);
    if (!run) throw new Error(`Cannot subscribe to run "${id}": no such run`);
    const after = options.after ?? -1;
    run.events.forEach((event, seq) => seq > after && listener({ kind: "event", seq, event }));
    if (after < 0) run.warnings.forEach((message) => listener({ kind: "warning", message }));
    if (run.status !== "running") {
      listener({ kind: "end", status: run.status, message: run.message });
      return () => {};
    }
    run.listeners.add(listener);
    return () => run.listeners.delete(listener);
  }

  #send(run: RunRecord, message: SlotMessage): void {
    for (const listener of run.listeners) listener(message);
  }

  #forgetOld(): void {
    for (const id of this.#runs.keys()) {
      if (this.#runs.size <= this.keep) break;
      if (this.#runs.get(id) !== this.#running) this.#runs.delete(id);
    }
  }
}
