import assert from "node:assert/strict";
import {
  addScaled,
  concat,
  cropTo,
  eye,
  fromArray,
  full,
  matmul,
  numel,
  padTo,
  releaseTensor,
  relL2,
  reshape,
  slice,
  sub,
  tensor,
  toFloat32,
  zeros,
} from "./tensor.ts";

const arange = (dims: number[]) => fromArray(dims, Array.from({ length: numel(dims) }, (_, i) => i));

Deno.test("tensor() checks element count and is frozen", () => {
  assert.throws(() => tensor("float32", [2, 2], new Float32Array(3)), /need 4 elements, data has '3'/);
  assert.throws(() => tensor("int64", [1], new Float32Array(1) as never), /not int64 storage/);
  const t = zeros([2, 3]);
  assert.ok(Object.isFrozen(t) && Object.isFrozen(t.dims));
  assert.equal(fromArray([2], [3, -1], "int64").data[1], -1n);
});

Deno.test("reshape() infers one -1 and rejects bad sizes", () => {
  assert.deepEqual(reshape(arange([2, 6]), [3, -1]).dims, [3, 4]);
  assert.throws(() => reshape(arange([2, 6]), [5, -1]), /Cannot reshape/);
});

Deno.test("slice() and concat() along a middle axis are inverse", () => {
  const t = arange([2, 3, 4]);
  const a = slice(t, 1, 0, 1);
  const b = slice(t, 1, 1, 3);
  assert.deepEqual([...a.data], [0, 1, 2, 3, 12, 13, 14, 15]);
  assert.deepEqual(b.dims, [2, 2, 4]);
  const back = concat([a, b], 1);
  assert.deepEqual([...back.data], [...t.data]);
  assert.deepEqual(concat([t, t], 0).dims, [4, 3, 4]);
  assert.throws(() => slice(t, 1, 2, 4), /its length is '3'/);
  assert.throws(() => concat([t, arange([2, 4, 4])], 0), /Cannot concat/);
});

Deno.test("padTo() zero-pads trailing ends and cropTo() restores the original", () => {
  const t = arange([1, 2, 3, 3]);
  const p = padTo(t, [1, 2, 4, 4]);
  assert.deepEqual(p.dims, [1, 2, 4, 4]);
  assert.deepEqual([...p.data.slice(0, 8)], [0, 1, 2, 0, 3, 4, 5, 0]);
  assert.deepEqual([...p.data.slice(12, 16)], [0, 0, 0, 0]);
  assert.equal(p.data.reduce((s, v) => s + v, 0), t.data.reduce((s, v) => s + v, 0));
  assert.deepEqual([...cropTo(p, [1, 2, 3, 3]).data], [...t.data]);
  assert.equal(padTo(t, t.dims), t);
  assert.throws(() => padTo(t, [1, 2, 2, 3]), /Cannot pad/);
  assert.throws(() => cropTo(t, [1, 2, 5, 3]), /Cannot crop/);
});

Deno.test("matmul() multiplies small matrices and eye() is its identity", () => {
  const a = fromArray([2, 3], [1, 2, 3, 4, 5, 6]);
  const b = fromArray([3, 2], [7, 8, 9, 10, 11, 12]);
  assert.deepEqual([...matmul(a, b).data], [58, 64, 139, 154]);
  assert.deepEqual([...matmul(eye(2), a).data], [...a.data]);
  assert.throws(() => matmul(a, a), /Cannot multiply matrices/);
});

Deno.test("addScaled() rounds s·b to float32 before adding, like torch", () => {
  const a = fromArray([1], [1]);
  const b = fromArray([1], [0.1]);
  const s = 1 / 3;
  const expected = Math.fround(1 + Math.fround(Math.fround(s) * Math.fround(0.1)));
  assert.equal(addScaled(a, b, s).data[0], expected);
  assert.deepEqual([...sub(full([2], 3), full([2], 1)).data], [2, 2]);
  assert.throws(() => addScaled(a, full([2], 1), 1), /Cannot add tensors/);
});

Deno.test("toFloat32() converts masks and relL2() measures relative error", () => {
  assert.deepEqual([...toFloat32(fromArray([3], [1, 0, 1], "int64")).data], [1, 0, 1]);
  const ref = fromArray([2], [3, 4]);
  assert.equal(relL2(ref, ref), 0);
  assert.ok(Math.abs(relL2(fromArray([2], [3, 5]), ref) - 0.2) < 1e-12);
  assert.equal(relL2(zeros([2]), zeros([2])), 0);
});

Deno.test("releaseTensor() frees a tensor's own buffer now and leaves a view of a larger one alone", () => {
  const t = full([4, 256], 1);
  assert.equal(releaseTensor(t), true);
  assert.equal(t.data.length, 0);
  assert.equal(releaseTensor(t), false, "already freed");
  const whole = new Float32Array(8).fill(2);
  const view = tensor("float32", [4], whole.subarray(4));
  assert.equal(releaseTensor(view), false);
  assert.deepEqual([...view.data], [2, 2, 2, 2]);
});
