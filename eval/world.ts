/**
 * The world description the evaluation reads (schema odsora.world/1, written by export/world/world_json.py beside
 * the bundle and beside ground-truth clips): which clip sizes the world draws and how far an object travels
 * over each. The analyzer's motion rule comes from here, not from a constant in TypeScript.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { EvalError } from "./prompt_file.ts";

/** The world file's schema string. */
export const WORLD_SCHEMA = "odsora.world/1";

/** One clip size of the world and an object's displacement range over it (null for T = 1 images). */
export interface WorldClip {
  frames: number;
  height: number;
  width: number;
  travel_min_px: number | null;
  travel_max_px: number | null;
}

/** The parts of world.json the evaluation uses. */
export interface World {
  schema: string;
  clips: WorldClip[];
}

/** Parse and check world.json text (`file` names it in messages). */
export function parseWorld(text: string, file: string): World {
  const where = `Cannot read world file '${file}'`;
  let v: { schema?: unknown; clips?: unknown };
  try {
    v = JSON.parse(text);
  } catch {
    throw new EvalError(`${where}: it is not JSON`);
  }
  if (v?.schema !== WORLD_SCHEMA) throw new EvalError(`${where}: schema is not '${WORLD_SCHEMA}'`);
  const clips = v.clips;
  const ok = (c: WorldClip) =>
    Number.isInteger(c?.frames) && c.frames >= 1 &&
    (c.frames === 1 || (typeof c.travel_min_px === "number" && c.travel_min_px > 0));
  if (!Array.isArray(clips) || clips.length === 0 || !clips.every(ok)) {
    throw new EvalError(`${where}: 'clips' must list clip sizes (travel_min_px > 0 where frames > 1)`);
  }
  return { schema: WORLD_SCHEMA, clips };
}

/** Read and parse a world file. */
export async function readWorld(file: string): Promise<World> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new EvalError(`Cannot read world file '${file}': ${(e as Error).message}`);
  }
  return parseWorld(text, file);
}

/**
 * The slowest displacement (pixels) the world gives an object over a clip of `frames` frames: the smallest
 * travel of the world's clips of that length, else the slowest speed of any clip size times (frames − 1).
 * 0 for a single frame (nothing can move).
 *
 * @example
 * ```ts
 * import { slowestDisplacement } from "./world.ts";
 * const world = { schema: "odsora.world/1", clips: [{ frames: 17, height: 64, width: 64, travel_min_px: 20, travel_max_px: 30 }] };
 * slowestDisplacement(world, 17); // 20
 * slowestDisplacement(world, 33); // 40 (the same speed over twice the frames)
 * ```
 */
export function slowestDisplacement(world: World, frames: number): number {
  if (frames < 2) return 0;
  const moving = world.clips.filter((c) => c.frames > 1);
  if (moving.length === 0) {
    throw new EvalError(
      `Cannot judge motion over ${frames} frames: the world file lists no moving clip size`,
    );
  }
  const same = moving.filter((c) => c.frames === frames);
  if (same.length) return Math.min(...same.map((c) => c.travel_min_px!));
  return Math.min(...moving.map((c) => c.travel_min_px! / (c.frames - 1))) * (frames - 1);
}

/**
 * The world file for an evaluation: `explicit` when given, else world.json beside the prompt file, else in
 * the bundle folder.
 */
export function findWorldFile(explicit: string | undefined, promptFile: string, bundle: string): string {
  if (explicit) return explicit;
  for (const f of [join(dirname(promptFile), "world.json"), join(bundle, "world.json")]) {
    if (existsSync(f)) return f;
  }
  throw new EvalError(
    `Cannot find the world file: neither beside '${promptFile}' nor in bundle '${bundle}' ` +
      `(write it with: scripts/py -m export.world.world_json --out ${join(bundle, "world.json")})`,
  );
}
