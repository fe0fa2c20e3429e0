import assert from "node:assert/strict";
import type { Bundle } from "../bundle/bundle.ts";
import { RecipeError } from "../core/errors.ts";
import { parseRecipe } from "../recipe/recipe.ts";
import { videoSize } from "./video_size.ts";
import { rflowTimesteps } from "../core/timesteps.ts";

function bundle(xDims: (string | number)[] = ["B", 4, "T", "Hp", "Wp"]): Bundle {
  return {
    name: "b",
    video: { fps: 24, default_frames: 51, default_height: 240, default_width: 426 },
    vae: { spatial_factor: 8, temporal_factor: 4, chunk_latents: 5, chunk_frames: 17 },
    denoiser: {
      in_channels: 4,
      patch_size: [1, 2, 2],
      blocks: [{ name: "embed", inputs: [{ name: "x", dtype: "float32", dims: xDims }] }],
    },
  } as unknown as Bundle;
}

const recipe = (extra = "") =>
  parseRecipe(`bundle: b\nprompts: [a, b]\nsteps: 30\n${extra}`, { file: "r.yaml" });

Deno.test("videoSize() takes the bundle's defaults and Open-Sora's shapes and timesteps", () => {
  const warnings: string[] = [];
  const v = videoSize(recipe(), bundle(), (m) => warnings.push(m));
  assert.deepEqual([v.height, v.width, v.frames, v.fps], [240, 426, 51, 24]);
  assert.deepEqual(v.latentDims, [2, 4, 15, 30, 53]);
  assert.deepEqual([v.decodedHeight, v.decodedWidth], [240, 424]);
  // the schedule of the requested pixel size (426, not the decoded 424) and frame count
  assert.deepEqual(v.timesteps, rflowTimesteps({ steps: 30, height: 240, width: 426, frames: 51 }));
  assert.notDeepEqual(v.timesteps, rflowTimesteps({ steps: 30, height: 240, width: 424, frames: 51 }));
  assert.deepEqual(warnings, ["width 426 is decoded as 424 (a multiple of 8)"]);
});

Deno.test("videoSize() refuses sizes the bundle cannot make, at the recipe line", () => {
  const fail = (extra: string, b = bundle()) => {
    try {
      videoSize(recipe(extra), b, () => {});
    } catch (e) {
      assert.ok(e instanceof RecipeError);
      return e;
    }
    throw new Error("expected a RecipeError");
  };
  const small = fail("height: 4");
  assert.equal(
    small.message,
    "Cannot make a video with height '4' (line 4): bundle 'b' decodes 8×8 pixel cells, so the minimum is '8'",
  );
  assert.deepEqual([small.path, small.line], ["height", 4]);
  assert.match(fail("frames: 9").message, /frames '9' \(line 4\): .*zero shift ratio/);
  const fixed = bundle(["B", 4, 15, 30, 54]);
  assert.match(
    fail("height: 240\nwidth: 256", fixed).message,
    /width '256' \(line 5\): bundle 'b' was exported for a fixed latent W of '54', this size needs '32'/,
  );
  assert.match(fail("frames: 17", fixed).message, /fixed latent T of '15', this size needs '5'/);
  assert.equal(videoSize(recipe("width: 432"), fixed, () => {}).latentDims[4], 54);
});
