/**
 * Temporal consistency of a clip, in the spirit of VBench's subject and background consistency, measured
 * on pixels: the object is found in each frame with a steady colour, and the background (everything outside
 * the object's box) changes little from one frame to the next.
 *
 * @module
 */
import type { Frames } from "../runtime/media/frames.ts";
import type { Component } from "./object_mask.ts";

/** Both consistencies of one clip, each in [0, 1] (1 = perfectly steady). */
export interface ClipConsistency {
  /** Share of frames whose object was found with a colour within {@link COLOR_DRIFT} of its median colour. */
  object: number;
  /** Share of consecutive frame pairs whose background changed by at most {@link BACKGROUND_STEP} on average. */
  background: number;
  /** Mean absolute background change between consecutive frames (8-bit levels per channel). */
  backgroundChange: number;
}

/** RGB distance from the clip's median object colour within which a frame's object colour is steady. */
export const COLOR_DRIFT = 50;
/** Mean absolute change (8-bit levels per channel) a frame pair's background may show and count as steady. */
export const BACKGROUND_STEP = 4;
const BOX_MARGIN = 2; // pixels around the object's box left out of the background

function meanColor(frames: Frames, t: number, c: Component): [number, number, number] {
  const base = t * frames.width * frames.height;
  const s = [0, 0, 0];
  for (const p of c.pixels) for (let k = 0; k < 3; k++) s[k] += frames.data[(base + p) * 3 + k];
  return [s[0] / c.pixels.length, s[1] / c.pixels.length, s[2] / c.pixels.length];
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : 0;
}

/** Share of frames with an object whose mean colour stays within COLOR_DRIFT of the median over frames. */
export function objectConsistency(frames: Frames, comps: readonly (Component | null)[]): number {
  const colors = comps.map((c, t) => (c ? meanColor(frames, t, c) : null));
  const found = colors.filter((c) => c !== null) as [number, number, number][];
  if (found.length === 0) return 0;
  const med = [0, 1, 2].map((k) => median(found.map((c) => c[k])));
  const steady = found.filter((c) => Math.hypot(c[0] - med[0], c[1] - med[1], c[2] - med[2]) <= COLOR_DRIFT);
  return steady.length / frames.count;
}

function inBox(c: Component | null, x: number, y: number): boolean {
  return c !== null && x >= c.x0 - BOX_MARGIN && x <= c.x1 + BOX_MARGIN && y >= c.y0 - BOX_MARGIN &&
    y <= c.y1 + BOX_MARGIN;
}

/** Mean absolute change per channel of the pixels outside both frames' object boxes, frame t−1 → t. */
export function backgroundChange(frames: Frames, comps: readonly (Component | null)[], t: number): number {
  const { width: w, height: h, data } = frames;
  let sum = 0, n = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (inBox(comps[t - 1], x, y) || inBox(comps[t], x, y)) continue;
      const a = ((t - 1) * w * h + y * w + x) * 3, b = a + w * h * 3;
      for (let k = 0; k < 3; k++) sum += Math.abs(data[b + k] - data[a + k]);
      n += 3;
    }
  }
  return n ? sum / n : 0;
}

/** Object and background consistency of a clip given the object's component in every frame. */
export function clipConsistency(frames: Frames, comps: readonly (Component | null)[]): ClipConsistency {
  const changes: number[] = [];
  for (let t = 1; t < frames.count; t++) changes.push(backgroundChange(frames, comps, t));
  return {
    object: objectConsistency(frames, comps),
    background: changes.length ? changes.filter((c) => c <= BACKGROUND_STEP).length / changes.length : 1,
    backgroundChange: changes.length ? changes.reduce((a, b) => a + b, 0) / changes.length : 0,
  };
}
