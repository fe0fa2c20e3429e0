import assert from "node:assert/strict";
import { tdtm, tdtmOperators } from "./tdtm.ts";
import type { Tensor } from "../runtime/core/types.ts";
import { instantiate } from "../runtime/core/registry.ts";

// The authors' merge/unmerge (On-device-Sora merge.py), restated on frame lists as the reference study
// describes them: merge drops an odd last frame and averages pairs; unmerge repeats each frame twice and
// appends one more copy of the last frame when the merged count M is odd and M ≠ 15.
function referenceMerge(frames: number[][]): number[][] {
  const kept = frames.length % 2 === 1 ? frames.slice(0, -1) : frames;
  const out: number[][] = [];
  for (let j = 0; j < kept.length; j += 2) out.push(kept[j].map((v, c) => (v + kept[j + 1][c]) / 2));
  return out;
}
function referenceUnmerge(merged: number[][]): number[][] {
  const out = merged.flatMap((f) => [f, f]);
  if (merged.length % 2 === 1 && merged.length !== 15) out.push(merged[merged.length - 1]);
  return out;
}

/** Applies an operator [R, C] along time to frames [C][channels]. */
function apply(op: Tensor, frames: number[][]): number[][] {
  const [rows, cols] = op.dims;
  assert.equal(cols, frames.length);
  const data = op.data as Float32Array;
  return Array.from({ length: rows }, (_, r) =>
    frames[0].map((_, c) => {
      let s = 0;
      for (let k = 0; k < cols; k++) s += data[r * cols + k] * frames[k][c];
      return s;
    }));
}

function randomFrames(count: number, seed: number): number[][] {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  return Array.from({ length: count }, () => Array.from({ length: 3 }, next));
}

function assertClose(actual: number[][], expected: number[][]) {
  assert.equal(actual.length, expected.length);
  actual.forEach((row, i) =>
    row.forEach((v, c) => assert.ok(Math.abs(v - expected[i][c]) < 1e-6, `${i},${c}`))
  );
}

Deno.test("tdtmOperators() reference mode equals the authors' merge and unmerge wherever theirs fits", () => {
  let checked = 0;
  for (let t = 2; t <= 64; t++) {
    const x = randomFrames(t, t);
    const roundTrips = referenceUnmerge(referenceMerge(x)).length === t;
    assert.equal(roundTrips, (t % 4 === 0 || t % 4 === 3 || t === 30) && t !== 31, `T=${t}`);
    const ops = tdtmOperators(t, "reference")!;
    assert.deepEqual(ops.merge.dims, [Math.floor(t / 2), t]);
    assertClose(apply(ops.merge, x), referenceMerge(x));
    if (!roundTrips) continue;
    const y = randomFrames(Math.floor(t / 2), 100 + t);
    assertClose(apply(ops.unmerge, y), referenceUnmerge(y));
    checked++;
  }
  assert.ok(checked > 25);
});

Deno.test("tdtmOperators() reference mode gives odd T's last frame the last pair's output for every T", () => {
  for (const t of [5, 9, 17, 25, 31]) {
    const ops = tdtmOperators(t, "reference")!;
    const y = randomFrames(Math.floor(t / 2), t);
    const back = apply(ops.unmerge, y);
    assert.equal(back.length, t);
    assertClose([back[t - 1], back[t - 2]], [y[y.length - 1], y[y.length - 1]]);
  }
});

Deno.test("tdtmOperators() alone mode keeps an odd last frame as its own token", () => {
  for (let t = 2; t <= 41; t++) {
    const ops = tdtmOperators(t, "alone")!;
    const m = Math.ceil(t / 2);
    assert.deepEqual(ops.merge.dims, [m, t]);
    assert.deepEqual(ops.unmerge.dims, [t, m]);
    const x = randomFrames(t, 7 * t);
    const merged = apply(ops.merge, x);
    if (t % 2 === 1) assertClose([merged[m - 1]], [x[t - 1]]);
    if (t % 2 === 0) assertClose(merged, referenceMerge(x));
    // unmerge·merge is a projection: merging its output again changes nothing.
    const projected = apply(ops.unmerge, merged);
    assertClose(apply(ops.merge, projected), merged);
    // Every row of merge sums to 1 (an average) and every row of unmerge picks exactly one token.
    for (const op of [ops.merge, ops.unmerge]) {
      const [rows, cols] = op.dims;
      for (let r = 0; r < rows; r++) {
        const row = Array.from((op.data as Float32Array).subarray(r * cols, (r + 1) * cols));
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-7);
      }
    }
  }
});

Deno.test("tdtmOperators() even T is the same in both modes, and T = 1 has nothing to merge", () => {
  for (const t of [2, 4, 10, 20, 30]) {
    assert.deepEqual(tdtmOperators(t, "alone"), tdtmOperators(t, "reference"));
  }
  assert.equal(tdtmOperators(1, "alone"), null);
  assert.equal(tdtmOperators(1, "reference"), null);
  assert.throws(() => tdtmOperators(0, "alone"), /Cannot build TDTM operators: frame count "0"/);
});

Deno.test("tdtm plugin merges for steps below mergeSteps and returns identity (null) after", () => {
  const op = instantiate(tdtm, { mergeSteps: 15, oddFrame: "reference" });
  assert.equal(op.kind, "token-op");
  assert.equal(op.name, "tdtm");
  for (let step = 0; step < 30; step++) {
    const ops = op.operators({ step, total: 30, t: 1000 - step * 30 }, 7);
    if (step < 15) assert.deepEqual(ops, tdtmOperators(7, "reference"));
    else assert.equal(ops, null);
  }
  const off = instantiate(tdtm, { mergeSteps: 0 });
  assert.equal(off.operators({ step: 0, total: 30, t: 1000 }, 20), null);
});

Deno.test("tdtm options reject unknown keys and bad values", () => {
  assert.deepEqual(tdtm.options.parse({}), { mergeSteps: 15, oddFrame: "alone", positions: "index" });
  assert.throws(() => tdtm.options.parse({ mergeSteps: -1 }));
  assert.throws(() => tdtm.options.parse({ mergeSteps: 15, oddFrame: "drop" }));
  assert.throws(() => tdtm.options.parse({ merge_steps: 15 }));
});

Deno.test("tdtmOperators() with chunks keeps each chunk's key frame alone and pairs the rest, never across", () => {
  const ops = tdtmOperators(10, "alone", 5)!;
  assert.deepEqual(ops.merge.dims, [6, 10]);
  assert.equal(ops.positions, undefined);
  const x = randomFrames(10, 3);
  const avg = (a: number[], b: number[]) => a.map((v, c) => (v + b[c]) / 2);
  assertClose(apply(ops.merge, x), [
    x[0],
    avg(x[1], x[2]),
    avg(x[3], x[4]),
    x[5],
    avg(x[6], x[7]),
    avg(x[8], x[9]),
  ]);
  const y = randomFrames(6, 4);
  assertClose(apply(ops.unmerge, y), [y[0], y[1], y[1], y[2], y[2], y[3], y[4], y[4], y[5], y[5]]);
  // a short last chunk: key, then a pair and an odd frame alone
  assert.deepEqual(tdtmOperators(9, "alone", 5)!.merge.dims, [6, 9]);
  assert.deepEqual(tdtmOperators(5, "alone", 5)!.merge.dims, [3, 5]);
  assert.throws(() => instantiate(tdtm, { chunk: 5, oddFrame: "reference" }), /chunk needs oddFrame 'alone'/);
});

Deno.test("tdtmOperators() time positions are each token's mean frame index; index positions are absent", () => {
  assert.deepEqual([...tdtmOperators(10, "alone", 5, "time")!.positions!.data], [0, 1.5, 3.5, 5, 6.5, 8.5]);
  assert.deepEqual([...tdtmOperators(5, "alone", undefined, "time")!.positions!.data], [0.5, 2.5, 4]);
  assert.equal(tdtmOperators(10, "alone", undefined, "index")!.positions, undefined);
  const op = instantiate(tdtm, { mergeSteps: 2, chunk: 5, positions: "time" });
  assert.deepEqual([...op.operators({ step: 1, total: 30, t: 900 }, 10)!.positions!.data], [
    0,
    1.5,
    3.5,
    5,
    6.5,
    8.5,
  ]);
  assert.throws(() => tdtm.options.parse({ positions: "centre" }));
});
