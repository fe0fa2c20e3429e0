/**
 * Test bundles built once per exporter version into `.odsora-cache/` (keyed by a hash of the sources that
 * produce them), so test files can share them and reruns are fast.
 *
 * @module
 */
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

/** The repository root. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..");

async function sha(paths: string[]): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const p of paths) {
    const bytes = await Deno.readFile(resolve(ROOT, p));
    parts.push(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  }
  const all = new Uint8Array(parts.length * 32);
  parts.forEach((p, i) => all.set(p, i * 32));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The export/ modules the `entries` import, transitively (`from export.a.b import`, `import export.a.b`,
 * `from export.a import b`, `from .b import`, `from . import b`), entries included: what a bundle they
 * build depends on. A module name is dotted below `export` (`onnx.fixture`); a package stands for its
 * `__init__.py`.
 */
export function exporterSources(
  entries: readonly string[] = ["onnx.fixture", "onnx.bundle", "__main__"],
): string[] {
  const seen = new Set<string>();
  const fileOf = (mod: string): string | undefined => {
    const base = join(ROOT, "export", ...mod.split("."));
    return [`${base}.py`, join(base, "__init__.py")].find((f) => existsSync(f));
  };
  const visit = (mod: string) => {
    const file = fileOf(mod);
    if (seen.has(mod) || !file) return;
    seen.add(mod);
    const text = Deno.readTextFileSync(file);
    for (const m of text.matchAll(/^\s*import\s+export\.([\w.]+)/gm)) visit(m[1]);
    const here = file.endsWith("__init__.py") ? mod.split(".") : mod.split(".").slice(0, -1);
    for (const m of text.matchAll(/^\s*from\s+(export|\.+)((?:\.?\w+)*)\s+import\s+([\w, ]+)/gm)) {
      const base = m[1] === "export" ? [] : here.slice(0, here.length - (m[1].length - 1));
      const pkg = [...base, ...m[2].split(".").filter(Boolean)].join(".");
      if (pkg) visit(pkg);
      m[3].split(",").forEach((x) => {
        const name = x.trim().split(/\s+/)[0];
        if (name) visit(pkg ? `${pkg}.${name}` : name);
      });
    }
  };
  entries.forEach(visit);
  return [...seen].sort().map((m) => relative(ROOT, fileOf(m)!));
}

/**
 * Build (or reuse) a cached folder: `build(tmp)` fills a temporary folder that is renamed into place, so
 * parallel test files never see a half-built bundle.
 */
export async function cached(
  label: string,
  sources: string[],
  build: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = join(ROOT, ".odsora-cache", `${label}-${await sha(sources)}`);
  if (existsSync(join(dir, ".complete"))) return dir;
  await Deno.mkdir(join(ROOT, ".odsora-cache"), { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: join(ROOT, ".odsora-cache"), prefix: `.${label}-` });
  try {
    await build(tmp);
    await Deno.writeTextFile(join(tmp, ".complete"), new Date().toISOString());
    try {
      await Deno.rename(tmp, dir);
    } catch {
      if (!existsSync(join(dir, ".complete"))) {
        throw new Error(`Cannot cache '${label}': rename to '${dir}' failed`);
      }
    }
    // older builds of the same label are stale (their sources changed)
    for (const e of Deno.readDirSync(join(ROOT, ".odsora-cache"))) {
      const stale = e.isDirectory && e.name !== basename(dir) && e.name.startsWith(`${label}-`) &&
        /^[0-9a-f]{16}$/.test(e.name.slice(label.length + 1));
      if (stale) await Deno.remove(join(ROOT, ".odsora-cache", e.name), { recursive: true }).catch(() => {});
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return dir;
}

/** Run `scripts/py ARGS` from the repository root; throws with its stderr on failure. */
export async function py(args: string[]): Promise<string> {
  const out = await new Deno.Command(join(ROOT, "scripts/py"), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(`Cannot run 'scripts/py ${args.join(" ")}': ${text.decode(out.stderr).trim()}`);
  }
  return text.decode(out.stdout);
}

/** The toy denoiser bundle of tests/_toy_denoiser.py (4 real ONNX blocks + expected.safetensors). */
export function toyDenoiserBundle(): Promise<string> {
  return cached("toy-denoiser", ["tests/_toy_denoiser.py", "export/onnx/block.py"], async (dir) => {
    await py(["tests/_toy_denoiser.py", dir]);
  });
}

/** The golden fixtures folder: $ODSORA_GOLDEN, else `shared/golden` in or beside the repository. */
export function goldenDir(): string {
  const env = Deno.env.get("ODSORA_GOLDEN");
  if (env) return env;
  const inside = join(ROOT, "shared", "golden");
  return existsSync(inside) ? inside : join(ROOT, "..", "shared", "golden");
}
