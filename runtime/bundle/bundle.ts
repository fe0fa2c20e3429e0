/**
 * Reading a bundle folder (schema `odsora.bundle/1`, see export/BUNDLE.md): the validated manifest (its
 * types and the stage / block-path lookups are `runtime/core/manifest.ts`'s, re-exported here) and the
 * null caption.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { parseManifest } from "./_bundle_schema.ts";
import { type Bundle, BUNDLE_SCHEMA } from "../core/manifest.ts";
import { BundleError } from "../core/errors.ts";
import { tensor } from "../core/tensor.ts";
import type { Tensor } from "../core/types.ts";

export * from "../core/manifest.ts";

const BUILD_HINT = "build one with `scripts/py -m export random --config tiny --out DIR` " +
  "(or `scripts/py -m export opensora ...` from a checkpoint)";

/**
 * Read and validate `DIR/bundle.json`; check every block file exists.
 *
 * @example
 * ```ts ignore
 * import { loadBundle } from "./bundle.ts";
 * const bundle = await loadBundle("models/default");
 * console.log(bundle.denoiser?.blocks.length);
 * ```
 */
export async function loadBundle(dir: string): Promise<Bundle> {
  const abs = resolve(dir);
  const manifestPath = join(abs, "bundle.json");
  let text: string;
  try {
    text = await Deno.readTextFile(manifestPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BundleError(`Cannot load bundle: '${manifestPath}' does not exist; ${BUILD_HINT}`, abs, {
        cause: e,
      });
    }
    throw new BundleError(
      `Cannot load bundle: '${manifestPath}' is unreadable (${(e as Error).message})`,
      abs,
      {
        cause: e,
      },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BundleError(
      `Cannot load bundle: '${manifestPath}' is not valid JSON (${(e as Error).message})`,
      abs,
      {
        cause: e,
      },
    );
  }
  const schema = (raw as { schema?: unknown } | null)?.schema;
  if (schema !== BUNDLE_SCHEMA) {
    throw new BundleError(
      `Cannot load bundle: '${manifestPath}' has schema '${
        String(schema)
      }', this runtime reads '${BUNDLE_SCHEMA}'; ` +
        `re-export it (${BUILD_HINT})`,
      abs,
    );
  }
  const parsed = parseManifest(raw);
  if (!parsed.ok) {
    throw new BundleError(
      `Cannot load bundle: '${manifestPath}' key '${parsed.key}': ${parsed.message}`,
      abs,
    );
  }
  const bundle: Bundle = { ...parsed.manifest, dir: abs };
  for (const stage of ["text", "denoiser", "vae"] as const) {
    for (const block of bundle[stage]?.blocks ?? []) {
      for (const rel of [block.file, block.data]) {
        if (rel === null) continue;
        const path = isAbsolute(rel) ? rel : join(abs, rel);
        try {
          await Deno.stat(path);
        } catch {
          throw new BundleError(
            `Cannot load bundle: block '${stage}/${block.name}' file '${path}' does not exist`,
            abs,
          );
        }
      }
    }
  }
  return bundle;
}

/** The null caption embedding [L, Cc] (`null_caption` or `text.null_caption`); BundleError if there is none. */
export async function nullCaption(bundle: Bundle): Promise<Tensor<"float32">> {
  const spec = bundle.null_caption ?? bundle.text?.null_caption;
  if (!spec) throw new BundleError(`Cannot read null caption: bundle '${bundle.name}' has none`, bundle.dir);
  const path = join(bundle.dir, spec.file);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new BundleError(`Cannot read null caption: '${path}' is unreadable`, bundle.dir, { cause: e });
  }
  const n = spec.dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== n * 4) {
    throw new BundleError(
      `Cannot read null caption: '${path}' has '${bytes.length}' bytes, dims '${
        JSON.stringify(spec.dims)
      }' need '${n * 4}'`,
      bundle.dir,
    );
  }
  const data = new Float32Array(n);
  new Uint8Array(data.buffer).set(bytes);
  return tensor("float32", spec.dims, data);
}
