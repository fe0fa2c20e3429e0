/**
 * Infer a clip's background, object colour, shape and motion direction from its pixels alone.
 *
 * Background: median of the frame borders. Object colour: mean of the pixels farthest from the background
 * (the object's core), named by the nearest world colour. Mask: pixels more than half-way from the
 * background towards that colour. Shape: per frame, the largest connected component's share of pixels in the
 * top half of its bounding box (an upward triangle has 1/4) and how much of the box's corners it fills (a
 * square all, a circle little), averaged over frames. Motion: least-squares
 * velocity of the component's centroid; the dominant axis and its sign name the direction.
 *
 * @module
 */
import type { Frames } from "../runtime/frames.ts";
import { borderMedian, type Component, distanceMap, largestComponent } from "./object_mask.ts";
import { BACKGROUNDS, COLORS, nearestName, type Rgb } from "./palette.ts";

/** What the analyzer found in one clip ("none" where there is no object to measure). */
export interface ClipAnalysis {
  background: string;
  color: string;
  shape: string;
  motion: string;
  objectRgb: Rgb | null;
  /** Shape cues averaged over the frames with an object. */
  shapeFeatures: ShapeFeatures | null;
  /** Centroid displacement over the clip, pixels [dx, dy] (y grows downwards). */
  displacement: [number, number];
  /** Frames where an object component was found. */
  framesWithObject: number;
}

const MIN_OBJECT_DISTANCE = 40; // RGB distance from the background below which a pixel is background
const MIN_COMPONENT_PIXELS = 12;
const STILL_PIXELS = 2; // total displacement below this is "still"

/** Shape cues of one component (both insensitive to blurred or rounded edges). */
export interface ShapeFeatures {
  /** Share of the component's pixels in the top half of its bounding box: triangle 1/4, circle/square 1/2. */
  topShare: number;
  /** Filled fraction of the four corner cells (each a quarter of the box side): square 1, circle about 0.1. */
  cornerFill: number;
}

/** Measure the shape cues of a component of a frame `width` pixels wide. */
export function shapeFeatures(c: Component, width: number): ShapeFeatures {
  const bw = c.x1 - c.x0 + 1, bh = c.y1 - c.y0 + 1;
  const midY = c.y0 + bh / 2;
  const cw = bw / 4, ch = bh / 4;
  let top = 0, corner = 0;
  for (const p of c.pixels) {
    const x = p % width, y = Math.floor(p / width);
    if (y + 0.5 < midY) top++;
    const dx = x + 0.5 - c.x0, dy = y + 0.5 - c.y0;
    if ((dx < cw || dx > bw - cw) && (dy < ch || dy > bh - ch)) corner++;
  }
  return { topShare: top / c.pixels.length, cornerFill: corner / (4 * cw * ch) };
}

/** Name the shape: a light top half is a triangle; otherwise filled corners make a square. */
export function classifyShape(f: ShapeFeatures): string {
  if (f.topShare < 0.39) return "triangle"; // 1/4 ideal; blur adds a symmetric halo that lifts it
  return f.cornerFill > 0.5 ? "square" : "circle";
}

function objectColor(frames: Frames, dist: Float32Array): Rgb | null {
  const far = Array.from(dist.filter((d) => d > MIN_OBJECT_DISTANCE)).sort((a, b) => a - b);
  if (far.length === 0) return null;
  const cut = 0.7 * far[Math.floor(0.98 * (far.length - 1))];
  const sum = [0, 0, 0];
  let n = 0;
  for (let p = 0; p < dist.length; p++) {
    if (dist[p] < cut || dist[p] <= MIN_OBJECT_DISTANCE) continue;
    for (let c = 0; c < 3; c++) sum[c] += frames.data[p * 3 + c];
    n++;
  }
  return [sum[0] / n, sum[1] / n, sum[2] / n];
}

function slope(ts: number[], vs: number[]): number {
  const mt = ts.reduce((a, b) => a + b, 0) / ts.length, mv = vs.reduce((a, b) => a + b, 0) / vs.length;
  let num = 0, den = 0;
  for (let i = 0; i < ts.length; i++) num += (ts[i] - mt) * (vs[i] - mv), den += (ts[i] - mt) ** 2;
  return den > 0 ? num / den : 0;
}

/** Analyze one clip of RGB frames. */
export function analyzeClip(frames: Frames): ClipAnalysis {
  const { width: w, height: h, count } = frames;
  const bg = borderMedian(frames);
  const background = nearestName(bg, BACKGROUNDS);
  const dist = distanceMap(frames, bg);
  const obj = objectColor(frames, dist);
  const none: ClipAnalysis = {
    background,
    color: "none",
    shape: "none",
    motion: "none",
    objectRgb: obj,
    shapeFeatures: null,
    displacement: [0, 0],
    framesWithObject: 0,
  };
  if (!obj) return none;
  const dir = [obj[0] - bg[0], obj[1] - bg[1], obj[2] - bg[2]];
  const norm2 = dir[0] ** 2 + dir[1] ** 2 + dir[2] ** 2;
  const feats: ShapeFeatures = { topShare: 0, cornerFill: 0 };
  const ts: number[] = [], xs: number[] = [], ys: number[] = [];
  const mask = new Uint8Array(w * h);
  for (let t = 0; t < count; t++) {
    for (let p = 0; p < w * h; p++) {
      const i = (t * w * h + p) * 3;
      let proj = 0;
      for (let c = 0; c < 3; c++) proj += (frames.data[i + c] - bg[c]) * dir[c];
      mask[p] = proj / norm2 > 0.5 ? 1 : 0;
    }
    const comp = largestComponent(mask, w, h);
    if (!comp || comp.pixels.length < MIN_COMPONENT_PIXELS) continue;
    const f = shapeFeatures(comp, w);
    feats.topShare += f.topShare, feats.cornerFill += f.cornerFill;
    let sx = 0, sy = 0;
    for (const p of comp.pixels) sx += p % w, sy += Math.floor(p / w);
    ts.push(t), xs.push(sx / comp.pixels.length), ys.push(sy / comp.pixels.length);
  }
  if (ts.length === 0) return { ...none, color: nearestName(obj, COLORS) };
  feats.topShare /= ts.length, feats.cornerFill /= ts.length;
  const shape = classifyShape(feats);
  const span = Math.max(count - 1, 1);
  const dx = ts.length > 1 ? slope(ts, xs) * span : 0, dy = ts.length > 1 ? slope(ts, ys) * span : 0;
  let motion = "still";
  if (Math.max(Math.abs(dx), Math.abs(dy)) >= STILL_PIXELS) {
    motion = Math.abs(dx) >= Math.abs(dy) ? (dx < 0 ? "left" : "right") : (dy < 0 ? "up" : "down");
  }
  return {
    background,
    color: nearestName(obj, COLORS),
    shape,
    motion,
    objectRgb: obj,
    shapeFeatures: feats,
    displacement: [dx, dy],
    framesWithObject: ts.length,
  };
}
