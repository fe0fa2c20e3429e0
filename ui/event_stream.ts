/**
 * A run's Server-Sent Events: `run-event` (a {@link RunEventJson}, with its index as the SSE id), `warning`,
 * then one `end` ({ status, message }). A reconnecting EventSource sends `Last-Event-ID` and resumes after it.
 *
 * @module
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { eventToJson } from "./event_json.ts";
import type { RunSlot, SlotMessage } from "./run_slot.ts";

/**
 * The SSE response that follows run `id` of `slot` to its end.
 *
 * @example
 * ```ts ignore
 * app.get("/api/runs/:id/events", (c) => eventStream(c, slot, c.req.param("id")));
 * ```
 */
export function eventStream(c: Context, slot: RunSlot, id: string): Response {
  const resume = c.req.header("last-event-id");
  const after = resume && /^\d{1,9}$/.test(resume) ? Number(resume) : -1;
  return streamSSE(c, async (stream) => {
    const queue: SlotMessage[] = [];
    let wake = () => {};
    const unsubscribe = slot.subscribe(id, (message) => {
      queue.push(message);
      wake();
    }, { after });
    stream.onAbort(() => {
      unsubscribe();
      wake();
    });
    try {
      while (!stream.aborted) {
        const message = queue.shift();
        if (!message) {
          await new Promise<void>((resolve) => wake = resolve);
          continue;
        }
        if (message.kind === "event") {
          await stream.writeSSE({
            event: "run-event",
            id: String(message.seq),
            data: eventToJson(message.event),
          });
        } else if (message.kind === "warning") {
          await stream.writeSSE({ event: "warning", data: JSON.stringify({ message: message.message }) });
        } else {
          await stream.writeSSE({
            event: "end",
            data: JSON.stringify({ status: message.status, message: message.message }),
          });
          break;
        }
      }
    } finally {
      unsubscribe();
    }
  });
}
