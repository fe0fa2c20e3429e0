import assert from "node:assert/strict";
import { join } from "node:path";
import { insideRoot, recipeFile } from "./safe_path.ts";

async function tree(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "odsora-ui-paths-" });
  await Deno.mkdir(join(root, "recipes"));
  await Deno.mkdir(join(root, "out", "r123456"), { recursive: true });
  await Deno.writeTextFile(join(root, "recipes", "default.yaml"), "bundle: x\n");
  await Deno.writeTextFile(join(root, "secret.yaml"), "secret\n");
  await Deno.writeTextFile(join(root, "out", "r123456", "video.mp4"), "mp4");
  await Deno.symlink(join(root, "secret.yaml"), join(root, "recipes", "link.yaml"));
  return root;
}

Deno.test("recipeFile() finds a recipe by name and refuses traversal, odd names and symlinks out", async () => {
  const root = await tree();
  try {
    const recipes = join(root, "recipes");
    assert.equal(recipeFile(recipes, "default"), join(await Deno.realPath(recipes), "default.yaml"));
    for (const name of ["../secret", "..", "a/b", "/etc/passwd", "a..b", "", ".hidden", "x\\y"]) {
      assert.throws(() => recipeFile(recipes, name), {
        name: "PathError",
        message: `Cannot find recipe "${name}": not a recipe name`,
      });
    }
    assert.throws(() => recipeFile(recipes, "missing"), {
      name: "PathError",
      message: 'Cannot find recipe "missing": no such file in recipes/',
    });
    assert.throws(() => recipeFile(recipes, "link"), {
      name: "PathError",
      message: 'Cannot find recipe "link": no such file in recipes/',
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("insideRoot() accepts files under the root only", async () => {
  const root = await tree();
  try {
    const out = join(root, "out");
    assert.equal(
      insideRoot(out, join(out, "r123456", "video.mp4")),
      join(await Deno.realPath(out), "r123456", "video.mp4"),
    );
    assert.throws(() => insideRoot(out, join(out, "..", "secret.yaml")), {
      name: "PathError",
      message: /outside "out"/,
    });
    assert.throws(() => insideRoot(out, out), { name: "PathError" });
    assert.throws(() => insideRoot(out, join(out, "nope.mp4")), {
      name: "PathError",
      message: 'Cannot read "nope.mp4": no such file',
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
