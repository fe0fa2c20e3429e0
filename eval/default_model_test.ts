import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { framesFromVideo } from "../runtime/media/frames.ts";
import { generate } from "../runtime/pipeline/pipeline.ts";
import { loadRecipe } from "../runtime/recipe/recipe.ts";
import { analyzeClip } from "./analyze.ts";
import { builtins } from "../builtins.ts";
import { readWorld, slowestDisplacement } from "./world.ts";

const ROOT = join(import.meta.dirname!, "..");

Deno.test("the default bundle turns a prompt into a clip of the recipe's length whose analyzed colour, shape and motion match it", async () => {
  assert.ok(
    existsSync(join(ROOT, "models", "default", "bundle.json")),
    "models/default is the shipped bundle",
  );
  const out = await Deno.makeTempDir({ prefix: "odsora_default_" });
  try {
    const recipe = await loadRecipe(join(ROOT, "recipes", "default.yaml"), {
      overrides: {
        prompt: "a green square moving up on a black background",
        "output.dir": out,
        "output.formats": ["png"],
      },
    });
    const frames = recipe.frames ?? 17;
    const result = await generate(recipe, { registry: builtins });
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.video.dims, [1, 3, frames, 64, 64]);
    const world = await readWorld(join(ROOT, "models", "default", "world.json"));
    const got = analyzeClip(framesFromVideo(result.video, 0), {
      minDisplacement: slowestDisplacement(world, frames) / 2,
    });
    assert.deepEqual(
      { color: got.color, shape: got.shape, motion: got.motion, background: got.background },
      { color: "green", shape: "square", motion: "up", background: "black" },
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
