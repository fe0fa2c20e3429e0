/**
 * The preview UI: a Hono app over the runtime (`createApp` + `runtimeBackend`), started by
 * `deno task serve` (`ui/server.ts`).
 *
 * @example
 * ```ts ignore
 * import { createApp, runtimeBackend } from "./mod.ts";
 * const app = createApp({ backend: runtimeBackend({ recipesDir: "recipes" }), outDir: "out/ui" });
 * Deno.serve({ hostname: "127.0.0.1", port: 8787 }, app.fetch);
 * ```
 *
 * @module
 */
export { type AppOptions, type Backend, createApp, RequestError } from "./app.ts";
export { type RecipeSummary, runtimeBackend } from "./runtime_backend.ts";
export { RecipeName, RunRequest } from "./run_request.ts";
export { BusyError, RunSlot, type RunStatus, type RunTask, type SlotMessage } from "./run_slot.ts";
export { insideRoot, PathError, recipeFile } from "./safe_path.ts";
export { eventToJson, type RunEventJson } from "./event_json.ts";
export { serverOptions } from "./server.ts";
