/**
 * The module graph keeps its shape: `runtime/` imports no plugin folder (samplers/, schedulers/, plugins/),
 * nor ios-bridge/ or ui/, and reaches none of them (nor builtins.ts) through other files: only the edges
 * outside runtime/ (main.ts, mod.ts, bench/, eval/, batch/, ui/) assemble the built-ins; `runtime/core/`
 * imports no other folder (the other runtime folders build on it); no import cycle; no `_private` module
 * (name starting with `_`) imported from another folder or re-exported. Read from the sources' import
 * statements (test files, export/ and node_modules/ aside); a planted violation of each rule shows the check
 * can fail.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { ROOT } from "./_bundles.ts";

/** Folders the runtime never imports. */
const OUTSIDE = ["samplers/", "schedulers/", "plugins/", "ios-bridge/", "ui/"];
const SKIP = /(^|\/)(node_modules|export|out|\.odsora-cache|\.venv)\//;

/** Source files (repository-relative) → their text: every .ts outside tests of its own. */
function readSources(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(join(root, dir))) {
      const path = dir ? `${dir}/${e.name}` : e.name;
      if (e.name.startsWith(".") || SKIP.test(`${path}/`)) continue;
      if (e.isDirectory) walk(path);
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        out.set(path, Deno.readTextFileSync(join(root, path)));
      }
    }
  };
  walk("");
  return out;
}

/** The graph: each file → the repository files it imports (relative specifiers only). */
export function importGraph(sources: ReadonlyMap<string, string>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const spec =
    /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s*["']([^"']+)["']/g;
  for (const [file, text] of sources) {
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const targets: string[] = [];
    for (const m of code.matchAll(spec)) {
      const s = m[1] ?? m[2] ?? m[3];
      if (!s.startsWith(".")) continue;
      targets.push(normalize(join(dirname(file), s)).replaceAll("\\", "/"));
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Each file → the repository files it re-exports from (`export ... from`). */
export function reexportGraph(sources: ReadonlyMap<string, string>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, text] of sources) {
    const targets = [...text.matchAll(/(?:^|\n)\s*export\b[^;]*?\bfrom\s*["'](\.[^"']+)["']/g)]
      .map((m) => normalize(join(dirname(file), m[1])).replaceAll("\\", "/"));
    graph.set(file, targets);
  }
  return graph;
}

/** Every broken rule, one line each. */
export function violations(
  graph: ReadonlyMap<string, string[]>,
  reexports: ReadonlyMap<string, string[]> = new Map(),
): string[] {
  const found: string[] = [];
  const reach = (from: string) => {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length) {
      for (const t of graph.get(stack.pop()!) ?? []) if (!seen.has(t)) (seen.add(t), stack.push(t));
    }
    return seen;
  };
  for (const [file, targets] of graph) {
    if (!file.startsWith("runtime/")) continue;
    for (const t of targets) {
      if (file.startsWith("runtime/core/") && !t.startsWith("runtime/core/")) {
        found.push(`the core imports another folder: ${file} -> ${t}`);
      }
      if (OUTSIDE.some((o) => t.startsWith(o))) {
        found.push(`runtime imports a plugin folder: ${file} -> ${t}`);
      }
    }
    for (const t of reach(file)) {
      if (OUTSIDE.some((o) => t.startsWith(o)) || t === "builtins.ts") {
        found.push(`runtime reaches outside the core: ${file} ->* ${t}`);
        break;
      }
    }
  }
  for (const [file, targets] of graph) {
    for (const t of targets) {
      const name = t.split("/").at(-1)!;
      if (name.startsWith("_") && dirname(t) !== dirname(file)) {
        found.push(`private module imported from another folder: ${file} -> ${t}`);
      }
    }
    for (const t of reexports.get(file) ?? []) {
      if (t.split("/").at(-1)!.startsWith("_")) found.push(`private module re-exported: ${file} -> ${t}`);
    }
  }
  // cycles: a DFS that meets a file still on its stack
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1);
    path.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 1) found.push(`import cycle: ${[...path.slice(path.indexOf(t)), t].join(" -> ")}`);
      else if (!state.has(t)) visit(t);
    }
    path.pop();
    state.set(f, 2);
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return found;
}

Deno.test("the module graph: runtime/ imports no plugin folder, no cycle, no cross-folder _private import", () => {
  const sources = readSources(ROOT);
  const graph = importGraph(sources);
  assert.ok(graph.size > 50 && graph.has("mod.ts"), `read ${graph.size} sources`);
  assert.ok([...graph.keys()].some((f) => f.startsWith("runtime/core/")));
  assert.deepEqual(violations(graph, reexportGraph(sources)), []);
});

Deno.test("the architecture check fails on a planted violation of each rule", () => {
  const sources = readSources(ROOT);
  const planted = new Map(sources);
  planted.set(
    "runtime/planted_back_edge.ts",
    `import { euler } from "../samplers/euler.ts";\nexport const x = euler;\n`,
  );
  planted.set("runtime/planted_a.ts", `import { b } from "./planted_b.ts";\nexport const a = b;\n`);
  planted.set("runtime/planted_b.ts", `import { a } from "./planted_a.ts";\nexport const b = a;\n`);
  planted.set("ui/planted_private.ts", `export { x } from "../runtime/_planted.ts";\n`);
  planted.set("runtime/_planted.ts", `export const x = 1;\n`);
  planted.set("runtime/planted_face.ts", `export { x } from "./_planted.ts";\n`);
  planted.set(
    "runtime/core/planted_up.ts",
    `import { loadBundle } from "../bundle/bundle.ts";\nexport { loadBundle };\n`,
  );
  const found = violations(importGraph(planted), reexportGraph(planted));
  assert.ok(
    found.some((v) =>
      v === "runtime imports a plugin folder: runtime/planted_back_edge.ts -> samplers/euler.ts"
    ),
    found.join("\n"),
  );
  assert.ok(
    found.some((v) => v.startsWith("import cycle: ") && v.includes("runtime/planted_a.ts")),
    found.join("\n"),
  );
  assert.ok(
    found.includes(
      "private module imported from another folder: ui/planted_private.ts -> runtime/_planted.ts",
    ),
  );
  assert.ok(
    found.includes("the core imports another folder: runtime/core/planted_up.ts -> runtime/bundle/bundle.ts"),
  );
  // and a module that only reaches a plugin folder through another file is caught too, as is the CLI
  // assembling the built-ins itself
  planted.set("runtime/planted_indirect.ts", `import "./planted_back_edge.ts";\n`);
  planted.set(
    "runtime/cli/planted_edge.ts",
    `import { builtins } from "../../builtins.ts";\nexport { builtins };\n`,
  );
  const indirect = violations(importGraph(planted));
  assert.ok(
    indirect.some((v) => v.startsWith("runtime reaches outside the core: runtime/planted_indirect.ts")),
  );
  assert.ok(
    indirect.some((v) => v.startsWith("runtime reaches outside the core: runtime/cli/planted_edge.ts")),
  );
});
