/**
 * The named colours, backgrounds, shapes and motions of the synthetic world (export/world/clips.py). The
 * analyzer maps measured pixels to these names; analyze_test.ts checks this table against the world.json
 * the Python world writes, so the two sides cannot drift apart.
 *
 * @module
 */

/** An RGB triple, 0..255 per channel. */
export type Rgb = readonly [number, number, number];

/** Object colours of the world. */
export const COLORS: Readonly<Record<string, Rgb>> = {
  red: [220, 40, 40],
  green: [40, 190, 60],
  blue: [50, 80, 230],
  yellow: [235, 215, 40],
  white: [240, 240, 240],
};

/** Background colours of the world. */
export const BACKGROUNDS: Readonly<Record<string, Rgb>> = { black: [0, 0, 0], gray: [120, 120, 120] };

/** Shape names of the world. */
export const SHAPES: readonly string[] = ["circle", "square", "triangle"];

/** Motion names of the world. */
export const MOTIONS: readonly string[] = ["left", "right", "up", "down"];

/** The name in `table` whose colour is nearest (Euclidean RGB) to `rgb`. */
export function nearestName(rgb: Rgb, table: Readonly<Record<string, Rgb>>): string {
  let best = "";
  let bestD = Infinity;
  for (const [name, c] of Object.entries(table)) {
    const d = (rgb[0] - c[0]) ** 2 + (rgb[1] - c[1]) ** 2 + (rgb[2] - c[2]) ** 2;
    if (d < bestD) [best, bestD] = [name, d];
  }
  return best;
}
