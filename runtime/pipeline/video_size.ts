/**
 * The run's video size: the recipe's height/width/frames/fps, else the bundle's `video` defaults, checked
 * against what the bundle can make, and turned into latent dims and the timestep schedule.
 *
 * @module
 */
import { rflowTimesteps } from "../core/timesteps.ts";
import type { Bundle } from "../bundle/bundle.ts";
import { RecipeError } from "../core/errors.ts";
import { locate, type Recipe } from "../recipe/recipe.ts";
import { latentFrames } from "./vae_stage.ts";

/** What the run makes and the latent it denoises. */
export interface VideoSize {
  height: number;
  width: number;
  frames: number;
  fps: number;
  /** The latent [n, C, T, h, w]. */
  latentDims: number[];
  /** Decoded pixel size (a multiple of the VAE's spatial factor: 426 → 424). */
  decodedHeight: number;
  decodedWidth: number;
  timesteps: number[];
}

/**
 * Resolve and check the video size of a run; `warn` hears about sizes the VAE rounds down.
 * Throws a `RecipeError` at the offending key for sizes the bundle cannot make.
 */
export function videoSize(recipe: Recipe, bundle: Bundle, warn: (m: string) => void): VideoSize {
  const vae = bundle.vae!;
  const denoiser = bundle.denoiser!;
  const height = recipe.height ?? bundle.video.default_height;
  const width = recipe.width ?? bundle.video.default_width;
  const frames = recipe.frames ?? bundle.video.default_frames;
  const fps = recipe.fps ?? bundle.video.fps;
  const fail = (key: string, message: string): never => {
    const where = locate(recipe, [key]);
    throw new RecipeError(
      `Cannot make a video with ${key} '${{ height, width, frames }[key]}'${
        where ? ` (${where})` : ""
      }: ${message}`,
      { file: recipe.file, path: key, line: where?.startsWith("line ") ? Number(where.slice(5)) : null },
    );
  };
  const sf = vae.spatial_factor;
  for (const [key, value] of [["height", height], ["width", width]] as const) {
    if (value < sf) {
      fail(key, `bundle '${bundle.name}' decodes ${sf}×${sf} pixel cells, so the minimum is '${sf}'`);
    }
    if (value % sf !== 0) warn(`${key} ${value} is decoded as ${value - (value % sf)} (a multiple of ${sf})`);
  }
  const T = latentFrames(vae, frames);
  const [pt] = denoiser.patch_size;
  if (T < 1 || T < pt) fail("frames", `bundle '${bundle.name}' needs at least one latent frame per patch`);
  let timesteps: number[];
  try {
    timesteps = rflowTimesteps({ steps: recipe.steps, height, width, frames, ...recipe.schedule });
  } catch (e) {
    return fail("frames", (e as Error).message.replace(/^Cannot make timesteps: /, ""));
  }
  const h = Math.floor(height / sf);
  const w = Math.floor(width / sf);
  // A bundle exported for one fixed size (numbers instead of symbols in the denoiser's `x` dims) can make
  // only that size.
  const x = denoiser.blocks[0].inputs.find((i) => i.name === "x");
  const [, ph, pw] = denoiser.patch_size;
  const padded = [Math.ceil(T / pt) * pt, Math.ceil(h / ph) * ph, Math.ceil(w / pw) * pw];
  const keys = ["frames", "height", "width"] as const;
  padded.forEach((size, i) => {
    const fixed = x?.dims[i + 2];
    if (typeof fixed === "number" && fixed !== size) {
      fail(
        keys[i],
        `bundle '${bundle.name}' was exported for a fixed latent ${
          ["T", "H", "W"][i]
        } of '${fixed}', this size needs '${size}'`,
      );
    }
  });
  return {
    height,
    width,
    frames,
    fps,
    latentDims: [recipe.prompts.length, denoiser.in_channels, T, h, w],
    decodedHeight: h * sf,
    decodedWidth: w * sf,
    timesteps,
  };
}
