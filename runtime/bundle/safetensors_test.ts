import assert from "node:assert/strict";
import { join } from "node:path";
import { goldenDir } from "../../tests/_bundles.ts";
import { parseSafetensors, pick, readSafetensors, SafetensorsError } from "./safetensors.ts";

const GOLDEN = goldenDir();

function file(header: unknown, data: number[]): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

Deno.test("parseSafetensors() reads F32, I64, U8 and BOOL little-endian data", () => {
  const f32 = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  const i64 = new Uint8Array(new BigInt64Array([-3n]).buffer);
  const bytes = file({
    __metadata__: {},
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "I64", shape: [1, 1], data_offsets: [8, 16] },
    c: { dtype: "BOOL", shape: [2], data_offsets: [16, 18] },
  }, [...f32, ...i64, 1, 0]);
  const t = parseSafetensors(bytes);
  assert.deepEqual([...t.a.data], [1.5, -2]);
  assert.equal(t.b.dtype, "int64");
  assert.equal(t.b.data[0], -3n);
  assert.deepEqual([...t.c.data], [1, 0]);
});

Deno.test("parseSafetensors() rejects truncated data and unknown dtypes", () => {
  assert.throws(() => parseSafetensors(new Uint8Array(4)), SafetensorsError);
  assert.throws(
    () => parseSafetensors(file({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, [0, 0, 0])),
    /data offsets '0..8' are invalid/,
  );
  assert.throws(
    () => parseSafetensors(file({ a: { dtype: "F16", shape: [1], data_offsets: [0, 2] } }, [0, 0])),
    /'F16'/,
  );
});

Deno.test("readSafetensors() reads a golden fixture and pick() names what is missing", async () => {
  const io = await readSafetensors(join(GOLDEN, "t5_encoder", "io.safetensors"));
  assert.equal(io.input_ids.dtype, "int64");
  assert.equal(io.last_hidden_state.dims.length, 3);
  assert.throws(() => pick(io, "nope", "io"), /Cannot find tensor 'nope' in 'io': it has/);
  await assert.rejects(readSafetensors("/nonexistent.safetensors"), SafetensorsError);
});
