/**
 * Infer a clip's background, object colour, shape and motion direction from its pixels alone, and how
 * steady the object and the background stay over the frames.
 *
 * Background: median of the frame borders, named by the nearest world background only when it is within
 * {@link BACKGROUND_TOLERANCE} of it and at most {@link MAX_FOREIGN_SHARE} of the clip's pixels are neither
 * background nor a blend of background and object (a cast or smeared background is "other"). Object colour:
 * mean of the pixels farthest from the background (the object's core), named by the nearest world colour.
 * Mask: pixels more than half-way from the background towards that colour. Shape: per frame, the largest
 * connected component's share of pixels in the top half of its bounding box (an upward triangle has 1/4) and
 * how much of the box's corners it fills (a square all, a circle little), averaged over frames. Motion:
 * least-squares velocity of the component's centroid times the clip's span; it names a direction only when
 * the displacement reaches `minDisplacement` (the evaluation passes half the world's slowest displacement
 * over that many frames, from world.json), else "still".
 *
 * @module
 */
import type { Frames } from "../runtime/media/frames.ts";
import { type ClipConsistency, clipConsistency } from "./consistency.ts";
import { borderMedian, type Component, distanceMap, largestComponent } from "./object_mask.ts";
import { BACKGROUNDS, COLORS, nearestName, type Rgb } from "./palette.ts";

/** What the analyzer found in one clip ("none" where there is no object to measure). */
export interface ClipAnalysis {
  background: string;
  color: string;
  shape: string;
  motion: string;
  objectRgb: Rgb | null;
  /** Median border colour. */
  backgroundRgb: Rgb;
  /** Share of pixels that are neither background nor a background/object blend. */
  foreignShare: number;
  /** Shape cues averaged over the frames with an object. */
  shapeFeatures: ShapeFeatures | null;
  /** Centroid displacement over the clip, pixels [dx, dy] (y grows downwards). */
  displacement: [number, number];
  /** Frames where an object component was found. */
  framesWithObject: number;
  /** Temporal consistency of the object and the background. */
  consistency: ClipConsistency;
}

/** How the analyzer decides motion. */
export interface AnalyzeOptions {
  /** Displacement (pixels over the clip) below which the object is "still". */
  minDisplacement: number;
}

/** RGB distance from a world background within which the border colour is named by it. */
export const BACKGROUND_TOLERANCE = 40;
/** Largest share of foreign pixels (neither background nor object blend) a named background allows. */
export const MAX_FOREIGN_SHARE = 0.05;
const MIN_OBJECT_DISTANCE = 40; // RGB distance from the background below which a pixel is background
const MIN_COMPONENT_PIXELS = 12;

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

/**
 * Name the background: the nearest world background when the border colour is within
 * {@link BACKGROUND_TOLERANCE} of it and the foreign share is at most {@link MAX_FOREIGN_SHARE}, else "other".
 *
 * @example
 * ```ts
 * import { nameBackground } from "./analyze.ts";
 * nameBackground([4, 2, 3], 0.01); // "black"
 * nameBackground([60, 60, 60], 0.01); // "other" (a gray cast over black)
 * ```
 */
export function nameBackground(bg: Rgb, foreignShare: number): string {
  const name = nearestName(bg, BACKGROUNDS);
  const c = BACKGROUNDS[name];
  const d = Math.hypot(bg[0] - c[0], bg[1] - c[1], bg[2] - c[2]);
  return d <= BACKGROUND_TOLERANCE && foreignShare <= MAX_FOREIGN_SHARE ? name : "other";
}

/**
 * Name the motion from a displacement [dx, dy]: the dominant axis and its sign, or "still" when neither
 * component reaches `minDisplacement` (or there is no displacement at all).
 *
 * @example
 * ```ts
 * import { nameMotion } from "./analyze.ts";
 * nameMotion([-12, 1], 10); // "left"
 * nameMotion([-6, 1], 10); // "still"
 * ```
 */
export function nameMotion(d: readonly [number, number], minDisplacement: number): string {
  const [dx, dy] = d;
  const m = Math.max(Math.abs(dx), Math.abs(dy));
  if (m === 0 || m < minDisplacement) return "still";
  return Math.abs(dx) >= Math.abs(dy) ? (dx < 0 ? "left" : "right") : (dy < 0 ? "up" : "down");
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

/** Share of pixels farther than MIN_OBJECT_DISTANCE from both the background and the bg→object segment. */
function foreignShare(frames: Frames, dist: Float32Array, bg: Rgb, obj: Rgb | null): number {
  const dir = obj ? [obj[0] - bg[0], obj[1] - bg[1], obj[2] - bg[2]] : [0, 0, 0];
  const norm2 = dir[0] ** 2 + dir[1] ** 2 + dir[2] ** 2;
  let foreign = 0;
  for (let p = 0; p < dist.length; p++) {
    if (dist[p] <= MIN_OBJECT_DISTANCE) continue;
    if (norm2 === 0) {
      foreign++;
      continue;
    }
    const v = [frames.data[p * 3] - bg[0], frames.data[p * 3 + 1] - bg[1], frames.data[p * 3 + 2] - bg[2]];
    const s = Math.min(1, Math.max(0, (v[0] * dir[0] + v[1] * dir[1] + v[2] * dir[2]) / norm2));
    const off = Math.hypot(v[0] - s * dir[0], v[1] - s * dir[1], v[2] - s * dir[2]);
    if (off > MIN_OBJECT_DISTANCE) foreign++;
  }
  return dist.length ? foreign / dist.length : 0;
}

function slope(ts: number[], vs: number[]): number {
  const mt = ts.reduce((a, b) => a + b, 0) / ts.length, mv = vs.reduce((a, b) => a + b, 0) / vs.length;
  let num = 0, den = 0;
  for (let i = 0; i < ts.length; i++) num += (ts[i] - mt) * (vs[i] - mv), den += (ts[i] - mt) ** 2;
  return den > 0 ? num / den : 0;
}

/** The object's largest component in every frame (null where none of at least MIN_COMPONENT_PIXELS). */
export function objectComponents(frames: Frames, bg: Rgb, obj: Rgb): (Component | null)[] {
  const { width: w, height: h, count } = frames;
  const dir = [obj[0] - bg[0], obj[1] - bg[1], obj[2] - bg[2]];
  const norm2 = dir[0] ** 2 + dir[1] ** 2 + dir[2] ** 2;
  const mask = new Uint8Array(w * h);
  const out: (Component | null)[] = [];
  for (let t = 0; t < count; t++) {
    for (let p = 0; p < w * h; p++) {
      const i = (t * w * h + p) * 3;
      let proj = 0;
      for (let c = 0; c < 3; c++) proj += (frames.data[i + c] - bg[c]) * dir[c];
      mask[p] = proj / norm2 > 0.5 ? 1 : 0;
    }
    const comp = largestComponent(mask, w, h);
    out.push(comp && comp.pixels.length >= MIN_COMPONENT_PIXELS ? comp : null);
  }
  return out;
}

/** Analyze one clip of RGB frames. */
export function analyzeClip(frames: Frames, options: AnalyzeOptions): ClipAnalysis {
  const { width: w, count } = frames;
  const bg = borderMedian(frames);
  const dist = distanceMap(frames, bg);
  const obj = objectColor(frames, dist);
  const foreign = foreignShare(frames, dist, bg, obj);
  const comps = obj ? objectComponents(frames, bg, obj) : new Array<Component | null>(count).fill(null);
  const none: ClipAnalysis = {
    background: nameBackground(bg, foreign),
    color: "none",
    shape: "none",
    motion: "none",
    objectRgb: obj,
    backgroundRgb: bg,
    foreignShare: foreign,
    shapeFeatures: null,
    displacement: [0, 0],
    framesWithObject: 0,
    consistency: clipConsistency(frames, comps),
  };
  if (!obj) return none;
  const feats: ShapeFeatures = { topShare: 0, cornerFill: 0 };
  const ts: number[] = [], xs: number[] = [], ys: number[] = [];
  comps.forEach((comp, t) => {
    if (!comp) return;
    const f = shapeFeatures(comp, w);
    feats.topShare += f.topShare, feats.cornerFill += f.cornerFill;
    let sx = 0, sy = 0;
    for (const p of comp.pixels) sx += p % w, sy += Math.floor(p / w);
    ts.push(t), xs.push(sx / comp.pixels.length), ys.push(sy / comp.pixels.length);
  });
  if (ts.length === 0) return { ...none, color: nearestName(obj, COLORS) };
  feats.topShare /= ts.length, feats.cornerFill /= ts.length;
  const span = Math.max(count - 1, 1);
  const displacement: [number, number] = ts.length > 1
    ? [slope(ts, xs) * span, slope(ts, ys) * span]
    : [0, 0];
  return {
    ...none,
    color: nearestName(obj, COLORS),
    shape: classifyShape(feats),
    motion: nameMotion(displacement, options.minDisplacement),
    shapeFeatures: feats,
    displacement,
    framesWithObject: ts.length,
  };
}
