/**
 * Infer a clip's background, object colour, shape and motion direction from its pixels alone.
 *
 * Background: median of the frame borders. Object colour: mean of the pixels farthest from the background
 * (the object's core), named by the nearest world colour. Mask: pixels more than half-way from the
 * background towards that colour. Shape: per frame, the largest connected component's IoU with an ideal
 * circle, square and upward triangle filling its bounding box, summed over frames. Motion: least-squares
 * velocity of the component's centroid; the dominant axis and its sign name the direction.
 *
 * @module
 */
import type { Frames } from "../runtime/frames.ts";
import { borderMedian, type Component, distanceMap, largestComponent } from "./object_mask.ts";
import { BACKGROUNDS, COLORS, nearestName, type Rgb, SHAPES } from "./palette.ts";

/** What the analyzer found in one clip ("none" where there is no object to measure). */
export interface ClipAnalysis {
  background: string;
  color: string;
  shape: string;
  motion: string;
  objectRgb: Rgb | null;
  shapeScores: Record<string, number>;
  /** Centroid displacement over the clip, pixels [dx, dy] (y grows downwards). */
  displacement: [number, number];
  /** Frames where an object component was found. */
  framesWithObject: number;
}

const MIN_OBJECT_DISTANCE = 40; // RGB distance from the background below which a pixel is background
const MIN_COMPONENT_PIXELS = 12;
const STILL_PIXELS = 2; // total displacement below this is "still"

/** Fraction of the bounding box that an ideal `shape` covers, evaluated at pixel (x, y)'s centre. */
function inside(shape: string, c: Component, x: number, y: number): boolean {
  const rx = (c.x1 + 1 - c.x0) / 2, ry = (c.y1 + 1 - c.y0) / 2;
  const dx = (x + 0.5 - (c.x0 + rx)) / rx, dy = (y + 0.5 - (c.y0 + ry)) / ry;
  if (shape === "circle") return dx * dx + dy * dy <= 1;
  if (shape === "triangle") return Math.abs(dx) <= (dy + 1) / 2;
  return true; // square: the whole box
}

/** IoU of the component with each ideal shape fitted to its bounding box. */
export function shapeIou(c: Component, width: number): Record<string, number> {
  const bw = c.x1 - c.x0 + 1;
  const member = new Uint8Array(bw * (c.y1 - c.y0 + 1));
  for (const p of c.pixels) member[(Math.floor(p / width) - c.y0) * bw + (p % width) - c.x0] = 1;
  const out: Record<string, number> = {};
  for (const s of SHAPES) {
    let inter = 0, area = 0;
    for (let y = c.y0; y <= c.y1; y++) {
      for (let x = c.x0; x <= c.x1; x++) {
        if (!inside(s, c, x, y)) continue;
        area++;
        inter += member[(y - c.y0) * bw + x - c.x0];
      }
    }
    out[s] = inter / (c.pixels.length + area - inter);
  }
  return out;
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
    background, color: "none", shape: "none", motion: "none", objectRgb: obj, shapeScores: {},
    displacement: [0, 0], framesWithObject: 0,
  };
  if (!obj) return none;
  const dir = [obj[0] - bg[0], obj[1] - bg[1], obj[2] - bg[2]];
  const norm2 = dir[0] ** 2 + dir[1] ** 2 + dir[2] ** 2;
  const scores: Record<string, number> = Object.fromEntries(SHAPES.map((s) => [s, 0]));
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
    const iou = shapeIou(comp, w);
    for (const s of SHAPES) scores[s] += iou[s];
    let sx = 0, sy = 0;
    for (const p of comp.pixels) sx += p % w, sy += Math.floor(p / w);
    ts.push(t), xs.push(sx / comp.pixels.length), ys.push(sy / comp.pixels.length);
  }
  if (ts.length === 0) return { ...none, color: nearestName(obj, COLORS) };
  const shape = SHAPES.reduce((a, b) => (scores[b] > scores[a] ? b : a));
  const span = Math.max(count - 1, 1);
  const dx = ts.length > 1 ? slope(ts, xs) * span : 0, dy = ts.length > 1 ? slope(ts, ys) * span : 0;
  let motion = "still";
  if (Math.max(Math.abs(dx), Math.abs(dy)) >= STILL_PIXELS) {
    motion = Math.abs(dx) >= Math.abs(dy) ? (dx < 0 ? "left" : "right") : (dy < 0 ? "up" : "down");
  }
  for (const s of SHAPES) scores[s] /= ts.length;
  return {
    background, color: nearestName(obj, COLORS), shape, motion, objectRgb: obj, shapeScores: scores,
    displacement: [dx, dy], framesWithObject: ts.length,
  };
}
