/**
 * Test bundles built once per exporter version into `.odsora-cache/` (keyed by a hash of the sources that
 * produce them), so test files can share them and reruns are fast.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

/** The repository root. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..");

async function sha(paths: string[]): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const p of paths) {
    const bytes = await Deno.readFile(join(ROOT, p));
    parts.push(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  }
  const all = new Uint8Array(parts.length * 32);
  parts.forEach((p, i) => all.set(p, i * 32));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every `.py` file of export/ (any exporter change rebuilds the cached bundles). */
export function exporterSources(): string[] {
  return [...Deno.readDirSync(join(ROOT, "export"))].filter((e) => e.isFile && e.name.endsWith(".py"))
    .map((e) => `export/${e.name}`).sort();
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
  return cached("toy-denoiser", ["tests/_toy_denoiser.py", "export/onnx_block.py"], async (dir) => {
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
