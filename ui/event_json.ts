/**
 * Run events as JSON for Server-Sent Events: the same union, with a preview's PNG bytes as base64.
 *
 * @module
 */
import { encodeBase64 } from "./_base64.ts";
import type { RunEvent } from "../runtime/core/types.ts";

/** A {@link RunEvent} as sent over SSE (`preview.png` is base64 text). */
export type RunEventJson =
  | Exclude<RunEvent, { type: "preview" }>
  | (Omit<Extract<RunEvent, { type: "preview" }>, "png"> & { png: string });

/**
 * The JSON text of `event` for an SSE `data:` field.
 *
 * @example
 * ```ts
 * eventToJson({ type: "error", message: "Cannot load block: file missing" });
 * ```
 */
export function eventToJson(event: RunEvent): string {
  const value: RunEventJson = event.type === "preview" ? { ...event, png: encodeBase64(event.png) } : event;
  return JSON.stringify(value);
}
