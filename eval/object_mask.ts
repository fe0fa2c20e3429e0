/**
 * Pixel-level steps of the analyzer: the clip's background colour, the object mask of a frame (pixels
 * more than half-way from the background towards the object colour), and its largest connected component.
 *
 * @module
 */
import type { Frames } from "../runtime/media/frames.ts";
import type { Rgb } from "./palette.ts";

/** A connected set of pixels of one frame: indices (y·width + x) and its bounding box (inclusive). */
export interface Component {
  pixels: number[];
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Per-channel median of the one-pixel border of every frame: the background colour. */
export function borderMedian(frames: Frames): Rgb {
  const { width: w, height: h, count, data } = frames;
  const ch: number[][] = [[], [], []];
  for (let t = 0; t < count; t++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (y !== 0 && y !== h - 1 && x !== 0 && x !== w - 1) continue;
        const i = ((t * h + y) * w + x) * 3;
        for (let c = 0; c < 3; c++) ch[c].push(data[i + c]);
      }
    }
  }
  const med = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1];
  return [med(ch[0]), med(ch[1]), med(ch[2])];
}

/** Distance of every pixel of the clip from `bg`: Float32Array [count·h·w]. */
export function distanceMap(frames: Frames, bg: Rgb): Float32Array {
  const n = frames.count * frames.height * frames.width;
  const out = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const i = p * 3;
    out[p] = Math.hypot(frames.data[i] - bg[0], frames.data[i + 1] - bg[1], frames.data[i + 2] - bg[2]);
  }
  return out;
}

/** The largest 4-connected component of `mask` (a frame's h·w booleans), or null when it is empty. */
export function largestComponent(mask: Uint8Array, width: number, height: number): Component | null {
  const seen = new Uint8Array(mask.length);
  let best: Component | null = null;
  const stack: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    const comp: Component = { pixels: [], x0: width, y0: height, x1: -1, y1: -1 };
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % width, y = (p - x) / width;
      comp.pixels.push(p);
      comp.x0 = Math.min(comp.x0, x), comp.x1 = Math.max(comp.x1, x);
      comp.y0 = Math.min(comp.y0, y), comp.y1 = Math.max(comp.y1, y);
      const next = [
        x > 0 ? p - 1 : -1,
        x < width - 1 ? p + 1 : -1,
        y > 0 ? p - width : -1,
        y < height - 1 ? p + width : -1,
      ];
      for (const q of next) {
        if (q >= 0 && mask[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    if (!best || comp.pixels.length > best.pixels.length) best = comp;
  }
  return best;
}
