/**
 * `deno task serve [--port 8787] [--host 127.0.0.1] [--recipes recipes] [--out out/ui]`: the preview UI.
 * Binds to 127.0.0.1 unless told otherwise.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createApp } from "./app.ts";
import { runtimeBackend } from "./runtime_backend.ts";

/** The server's settings from command-line arguments; throws a one-line `Error` for a bad value. */
export function serverOptions(args: string[]): { port: number; host: string; recipes: string; out: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        port: { type: "string", default: "8787" },
        host: { type: "string", default: "127.0.0.1" },
        recipes: { type: "string", default: "recipes" },
        out: { type: "string", default: "out/ui" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new Error(`Cannot serve: ${(error as Error).message.split(". ")[0]}`);
  }
  const { values } = parsed;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`Cannot serve: port "${values.port}" is not an integer in [0, 65535]`);
  }
  return { port, host: values.host, recipes: values.recipes, out: values.out };
}

if (import.meta.main) {
  let options;
  try {
    options = serverOptions(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const app = createApp({ backend: runtimeBackend({ recipesDir: options.recipes }), outDir: options.out });
  Deno.serve({
    port: options.port,
    hostname: options.host,
    onListen: ({ hostname, port }) => console.log(`odsora ui: http://${hostname}:${port}/ (Ctrl-C stops)`),
  }, app.fetch);
}
