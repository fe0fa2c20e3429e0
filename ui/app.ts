/**
 * The preview UI's Hono app: the page and its assets, the recipe list, one generation at a time with live
 * progress over Server-Sent Events, cancellation, and the run's files. Testable without a socket through
 * `app.request`.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { eventStream } from "./event_stream.ts";
import { fileResponse } from "./serve_file.ts";
import { BusyError, RunSlot, type RunTask } from "./run_slot.ts";
import { describeIssues, RunId, RunRequest } from "./run_request.ts";
import { insideRoot, PathError } from "./safe_path.ts";

/** A request the backend refuses (bad recipe value, unknown plugin, budget too small): answered with 400. */
export class RequestError extends Error {
  override name = "RequestError";
}

/** What the app needs from the runtime. */
export interface Backend {
  /** The recipes in `recipes/` with the values the form starts from. */
  recipes(): Promise<unknown[]>;
  /** The built-in plugins the form offers, by kind, with their option schemas. */
  plugins(): Promise<Record<string, unknown[]>>;
  /** Checks `request` against its recipe and returns the run's work, writing under `runDir`; throws
   * {@link RequestError} (or {@link PathError}) for a bad request. */
  prepare(request: RunRequest, runDir: string): Promise<RunTask>;
}

/** Options of {@link createApp}. */
export interface AppOptions {
  backend: Backend;
  /** Every run writes under `<outDir>/<run id>/`; nothing else is ever served from disk. */
  outDir: string;
}

const STATIC_DIR = join(import.meta.dirname!, "static");
const STATIC_FILES = new Set(
  readdirSync(STATIC_DIR).filter((name) => /^[a-z_]+\.(html|js|css|svg)$/.test(name)),
);
const RUN_FILES = { "video.mp4": "video", "video.gif": "gif", "report.json": "report" } as const;

/**
 * The preview UI app over `backend`, writing runs under `outDir`.
 *
 * @example
 * ```ts ignore
 * import { runtimeBackend } from "./runtime_backend.ts";
 * const app = createApp({ backend: runtimeBackend({ recipesDir: "recipes" }), outDir: "out/ui" });
 * Deno.serve({ port: 8787, hostname: "127.0.0.1" }, app.fetch);
 * ```
 */
export function createApp(options: AppOptions): Hono {
  const slot = new RunSlot();
  mkdirSync(options.outDir, { recursive: true });
  const app = new Hono();
  const fail = (status: 400 | 404 | 409, message: string) => Response.json({ error: message }, { status });

  app.onError((error) => {
    console.error(`odsora ui: ${error instanceof Error ? error.message : String(error)}`);
    return Response.json({ error: "Internal error (see the server log)" }, { status: 500 });
  });
  app.notFound((c) => fail(404, `Cannot find "${c.req.path}"`));

  app.get("/", () => fileResponse(join(STATIC_DIR, "index.html"), { range: null }));
  app.get("/static/:file", (c) => {
    const file = c.req.param("file");
    if (!STATIC_FILES.has(file)) return fail(404, `Cannot find static file "${file}"`);
    return fileResponse(join(STATIC_DIR, file), { range: null });
  });

  app.get("/api/recipes", async (c) => c.json(await options.backend.recipes()));
  app.get("/api/plugins", async (c) => c.json(await options.backend.plugins()));

  app.post(
    "/api/runs",
    bodyLimit({ maxSize: 64 * 1024, onError: () => fail(400, "Cannot read the body: larger than 64 KiB") }),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return fail(400, "Cannot read the body: not valid JSON");
      }
      const parsed = RunRequest.safeParse(body);
      if (!parsed.success) return fail(400, `Cannot start a generation: ${describeIssues(parsed.error)}`);
      const running = slot.running;
      if (running) return fail(409, new BusyError(running.id).message);
      const id = `r${Date.now().toString(36)}${crypto.randomUUID().slice(0, 6)}`;
      const runDir = join(options.outDir, id);
      let task: RunTask;
      try {
        task = await options.backend.prepare(parsed.data, runDir);
      } catch (error) {
        if (error instanceof RequestError || error instanceof PathError) return fail(400, error.message);
        throw error;
      }
      try {
        slot.start(id, task, {
          onEnd: (run) => run.status === "done" ? Promise.resolve() : removeDir(runDir),
        });
      } catch (error) {
        if (error instanceof BusyError) return fail(409, error.message);
        throw error;
      }
      return c.json({ id, events: `/api/runs/${id}/events` }, 202);
    },
  );

  const lookup = (raw: string) => RunId.safeParse(raw).success ? slot.get(raw) : undefined;

  app.get("/api/runs", (c) => c.json(slot.list().map((run) => ({ id: run.id, status: run.status }))));

  app.get("/api/runs/:id", (c) => {
    const run = lookup(c.req.param("id"));
    if (!run) return fail(404, `Cannot find run "${c.req.param("id")}"`);
    const files = Object.fromEntries(
      Object.entries(RUN_FILES).filter(([, key]) => run.done?.[key]).map((
        [name],
      ) => [name, `/api/runs/${run.id}/${name}`]),
    );
    return c.json({ id: run.id, status: run.status, message: run.message, events: run.events.length, files });
  });

  app.post("/api/runs/:id/cancel", (c) => {
    const run = lookup(c.req.param("id"));
    if (!run) return fail(404, `Cannot cancel run "${c.req.param("id")}": no such run`);
    if (!slot.cancel(run.id)) {
      return fail(409, `Cannot cancel run "${run.id}": it has already ended (${run.status})`);
    }
    return c.json({ id: run.id, status: "cancelling" }, 202);
  });

  app.get("/api/runs/:id/events", (c) => {
    const run = lookup(c.req.param("id"));
    if (!run) return fail(404, `Cannot stream run "${c.req.param("id")}": no such run`);
    return eventStream(c, slot, run.id);
  });

  app.get("/api/runs/:id/:file", (c) => {
    const run = lookup(c.req.param("id"));
    const name = c.req.param("file");
    if (!run) return fail(404, `Cannot find run "${c.req.param("id")}"`);
    if (!Object.hasOwn(RUN_FILES, name)) {
      return fail(404, `Cannot find "${name}": runs have ${Object.keys(RUN_FILES).join(", ")}`);
    }
    const path = run.done?.[RUN_FILES[name as keyof typeof RUN_FILES]];
    if (!path) {
      return fail(
        404,
        `Cannot find "${name}" of run "${run.id}": ${
          run.status === "running" ? "still running" : "not produced"
        }`,
      );
    }
    let real: string;
    try {
      real = insideRoot(join(options.outDir, run.id), path);
    } catch (error) {
      if (error instanceof PathError) return fail(404, error.message);
      throw error;
    }
    const download = name === "video.gif" ? `odsora-${run.id}.gif` : undefined;
    return fileResponse(real, { range: c.req.header("range") ?? null, download });
  });

  return app;
}

async function removeDir(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
