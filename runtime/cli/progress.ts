/**
 * A terminal progress bar on stderr, fed by run events: the stage, the step i/K with a bar, the block
 * j/N, and the ETA. On a TTY it redraws one line; otherwise it stays quiet except one line per step, so
 * logs stay readable.
 *
 * @module
 */
import type { RunEvent, StageName } from "../core/types.ts";

/** What the bar shows, folded from events. */
export interface ProgressState {
  stage: StageName | null;
  step: number | null;
  total: number | null;
  etaMs: number | null;
  block: { name: string; index: number; count: number } | null;
}

/** An empty progress state. */
export function initialProgress(): ProgressState {
  return { stage: null, step: null, total: null, etaMs: null, block: null };
}

/** Fold one event into the state (returns a new state). */
export function foldProgress(s: ProgressState, e: RunEvent): ProgressState {
  switch (e.type) {
    case "stage":
      return e.status === "start" ? { ...s, stage: e.stage, block: null } : { ...s, block: null };
    case "step":
      return { ...s, step: e.step + 1, total: e.total, etaMs: e.etaMs };
    case "block":
      return e.op === "run" ? { ...s, block: { name: e.block, index: e.index + 1, count: e.count } } : s;
    default:
      return s;
  }
}

/** `m:ss` (or `h:mm:ss`) for a duration in ms. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const [h, m, sec] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

/**
 * One line for the state, at most `width` characters.
 *
 * @example
 * ```ts
 * import { renderProgress } from "./progress.ts";
 * renderProgress({ stage: "denoiser", step: 3, total: 10, etaMs: 42000, block: null }, 60);
 * // "denoiser step 3/10 [######--------------] ETA 0:42"
 * ```
 */
export function renderProgress(s: ProgressState, width: number): string {
  if (!s.stage) return "";
  const parts: string[] = [s.stage];
  if (s.stage === "denoiser" && s.step !== null && s.total) {
    const barWidth = 20;
    const filled = Math.round((s.step / s.total) * barWidth);
    parts.push(`step ${s.step}/${s.total}`, `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`);
  }
  if (s.block) parts.push(`block ${s.block.index}/${s.block.count} ${s.block.name}`);
  if (s.stage === "denoiser" && s.etaMs !== null && s.step !== s.total) {
    parts.push(`ETA ${formatDuration(s.etaMs)}`);
  }
  const line = parts.join(" ");
  return line.length > width ? line.slice(0, Math.max(0, width - 1)).trimEnd() + "…" : line;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Where to write (default: stderr). */
  write?: (text: string) => void;
  /** Redraw in place (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Terminal width (default: the console size, else 100). */
  columns?: number;
}

/**
 * A progress observer: `emit` takes run events; `clear` erases the bar before other output (warnings);
 * `end` finishes the line.
 *
 * @example
 * ```ts
 * import { createProgress } from "./progress.ts";
 * const lines: string[] = [];
 * const bar = createProgress({ write: (t) => lines.push(t), tty: false });
 * bar.emit({ type: "step", step: 0, total: 2, t: 1000, calls: 1, etaMs: 500 });
 * bar.end(); // lines: ["step 1/2 t=1000.0 ETA 0:01\n"]
 * ```
 */
export function createProgress(options: ProgressOptions = {}) {
  const encoder = new TextEncoder();
  const write = options.write ?? ((t: string) => Deno.stderr.writeSync(encoder.encode(t)));
  const tty = options.tty ?? Deno.stderr.isTerminal();
  const columns = () => {
    if (options.columns) return options.columns;
    try {
      const { columns } = Deno.consoleSize();
      return columns >= 20 ? columns : 100; // a pseudo-terminal may report 0 columns
    } catch {
      return 100;
    }
  };
  let state = initialProgress();
  let shown = "";
  let lastDraw = 0;
  const draw = (force: boolean) => {
    const now = performance.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const line = renderProgress(state, columns() - 1);
    if (line === shown) return;
    write(`\r\x1b[2K${line}`);
    shown = line;
  };
  return {
    emit(event: RunEvent): void {
      state = foldProgress(state, event);
      if (tty) draw(event.type !== "block");
      else if (event.type === "step") {
        const eta = event.etaMs !== null && event.step + 1 < event.total
          ? ` ETA ${formatDuration(event.etaMs)}`
          : "";
        write(`step ${event.step + 1}/${event.total} t=${event.t.toFixed(1)}${eta}\n`);
      }
    },
    clear(): void {
      if (tty && shown) write("\r\x1b[2K");
      shown = "";
    },
    end(): void {
      if (tty && shown) write("\n");
      shown = "";
    },
  };
}
