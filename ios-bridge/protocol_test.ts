import assert from "node:assert/strict";
import type { TensorMap } from "../runtime/core/types.ts";
import { concatChunks, FrameReader } from "./frame_reader.ts";
import { parseReply, parseRequest } from "./messages.ts";
import { decodeFrame, encodeFrame, PRELUDE_BYTES, PROTOCOL_VERSION, ProtocolError } from "./protocol.ts";

function sampleTensors(): TensorMap {
  const f = new Float32Array([1.5, -0, Infinity, NaN, 3.4028234663852886e38, 1e-45, -2.25]);
  new DataView(f.buffer).setUint32(12, 0x7fc01234, true); // a NaN payload must survive bit for bit
  return {
    x: { dtype: "float32", dims: [7], data: f },
    ids: { dtype: "int64", dims: [2, 2], data: new BigInt64Array([0n, 1n, -(2n ** 63n), 2n ** 63n - 1n]) },
    mask: { dtype: "uint8", dims: [3], data: new Uint8Array([0, 255, 7]) }, // 3 bytes: the next is padded
    empty: { dtype: "float32", dims: [2, 0, 3], data: new Float32Array(0) },
    view: { dtype: "float32", dims: [2], data: new Float32Array([9, 8, 7, 6]).subarray(1, 3) },
  };
}

const bytesOf = (t: TensorMap[string]) => {
  const d = t.data as Uint8Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
};

Deno.test("encodeFrame() and decodeFrame() round-trip every dtype bit for bit, 8-aligned", () => {
  const tensors = sampleTensors();
  const bytes = concatChunks(encodeFrame({ type: "run", id: 42, block: 3 }, tensors));
  assert.equal(bytes.byteLength % 8, 0);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x4f, 0x53, 0x52, 0x42]);
  assert.equal(new DataView(bytes.buffer).getUint16(4, true), PROTOCOL_VERSION);
  const frame = decodeFrame(bytes);
  assert.equal(frame.header.type, "run");
  assert.equal(frame.header.block, 3);
  assert.deepEqual(Object.keys(frame.tensors), Object.keys(tensors));
  for (const [name, t] of Object.entries(tensors)) {
    const got = frame.tensors[name];
    assert.equal(got.dtype, t.dtype);
    assert.deepEqual(got.dims, t.dims);
    assert.deepEqual(bytesOf(got), bytesOf(t), name);
    assert.equal((got.data as Uint8Array).byteOffset % 8, 0, `${name} is an aligned view`);
  }
  assert.equal(
    new DataView((frame.tensors.x.data as Float32Array).buffer).getUint32(
      (frame.tensors.x.data as Float32Array).byteOffset + 12,
      true,
    ),
    0x7fc01234,
  );
});

Deno.test("FrameReader cuts a stream split at every byte into the same frames", () => {
  const a = concatChunks(encodeFrame({ type: "run", id: 1, block: 2 }, sampleTensors()));
  const b = concatChunks(encodeFrame({ type: "memory", id: 2 }));
  const stream = concatChunks([a, b, a]);
  const whole = new FrameReader().read(stream);
  assert.deepEqual(whole.map((f) => f.header.id), [1, 2, 1]);
  for (const step of [1, 3, 7, 24, 25, 100]) {
    const reader = new FrameReader();
    const frames = [];
    for (let at = 0; at < stream.byteLength; at += step) {
      frames.push(...reader.read(stream.subarray(at, at + step)));
    }
    reader.end();
    assert.equal(reader.buffered, 0);
    assert.deepEqual(frames.map((f) => f.header), whole.map((f) => f.header), `step ${step}`);
    assert.deepEqual(bytesOf(frames[2].tensors.ids), bytesOf(whole[2].tensors.ids));
  }
});

Deno.test("a truncated frame is a ProtocolError from decodeFrame() and from FrameReader.end()", () => {
  const bytes = concatChunks(encodeFrame({ type: "run", id: 1, block: 2 }, sampleTensors()));
  assert.throws(
    () => decodeFrame(bytes.subarray(0, bytes.byteLength - 1)),
    (e) =>
      e instanceof ProtocolError &&
      e.message ===
        `Cannot decode frame: it is truncated (the prelude announces '${bytes.byteLength}' bytes, ` +
          `got '${bytes.byteLength - 1}')`,
  );
  assert.throws(() => decodeFrame(bytes.subarray(0, 10)), /the prelude needs '32' bytes, got '10'/);
  const reader = new FrameReader();
  assert.deepEqual(reader.read(bytes.subarray(0, 50)), []);
  assert.throws(
    () => reader.end(),
    (e) =>
      e instanceof ProtocolError && e.message.includes(`ended after '50' of its '${bytes.byteLength}' bytes`),
  );
});

Deno.test("a frame of another protocol version or with bad magic is refused with a clear error", () => {
  const bytes = concatChunks(encodeFrame({ type: "hello", id: 1, version: 2, client: "x" }));
  new DataView(bytes.buffer).setUint16(4, 1, true);
  assert.throws(
    () => decodeFrame(bytes),
    (e) =>
      e instanceof ProtocolError &&
      e.message ===
        "Cannot decode frame: protocol version '1' is not supported (this side speaks version '2')",
  );
  assert.throws(() => new FrameReader().read(bytes), /protocol version '1' is not supported/);
  const http = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
  assert.throws(() => new FrameReader().read(http), /magic is '47 45 54 20', expected '4f 53 52 42'/);
});

Deno.test("decodeFrame() refuses malformed headers and tensor directories", () => {
  const frame = (header: string, payload = new Uint8Array(0)) => {
    const text = new TextEncoder().encode(header);
    const out = new Uint8Array(PRELUDE_BYTES + text.byteLength + payload.byteLength);
    const v = new DataView(out.buffer);
    out.set([0x4f, 0x53, 0x52, 0x42]);
    v.setUint16(4, 2, true);
    v.setUint32(8, text.byteLength, true);
    v.setBigUint64(16, BigInt(payload.byteLength), true);
    out.set(text, PRELUDE_BYTES);
    out.set(payload, PRELUDE_BYTES + text.byteLength);
    return out;
  };
  const spec = (s: object) => JSON.stringify({ type: "run", id: 1, tensors: [{ name: "x", ...s }] });
  const cases: [Uint8Array, RegExp][] = [
    [frame("{not json"), /the header is not UTF-8 JSON/],
    [frame('"run"'), /not an object with a string 'type'/],
    [frame('{"type":"run","id":-1}'), /'id' '-1' is not an integer >= 0/],
    [frame(spec({ dtype: "float16", dims: [1], offset: 0, bytes: 2 }), new Uint8Array(8)), /dtype 'float16'/],
    [
      frame(spec({ dtype: "float32", dims: [1.5], offset: 0, bytes: 4 }), new Uint8Array(8)),
      /dims '\[1.5\]'/,
    ],
    [
      frame(spec({ dtype: "float32", dims: [3], offset: 0, bytes: 8 }), new Uint8Array(16)),
      /'8' bytes, .* need '12'/,
    ],
    [frame(spec({ dtype: "float32", dims: [1], offset: 4, bytes: 4 }), new Uint8Array(16)), /offset '4'/],
    [
      frame(spec({ dtype: "float32", dims: [4], offset: 8, bytes: 16 }), new Uint8Array(16)),
      /outside the '16'-byte/,
    ],
    [
      frame(
        spec({ dtype: "float32", dims: [2 ** 40, 2 ** 40], offset: 0, bytes: 2 ** 82 }),
        new Uint8Array(8),
      ),
      /outside the '8'-byte/,
    ],
    [
      frame(
        JSON.stringify({
          type: "run",
          id: 1,
          tensors: [
            { name: "a", dtype: "float32", dims: [4], offset: 0, bytes: 16 },
            { name: "b", dtype: "float32", dims: [2], offset: 8, bytes: 8 },
          ],
        }),
        new Uint8Array(16),
      ),
      /tensors at bytes '0' and '8' overlap/,
    ],
    [
      frame(
        JSON.stringify({
          type: "run",
          id: 1,
          tensors: Array.from(
            { length: 1025 },
            (_, i) => ({ name: `t${i}`, dtype: "uint8", dims: [0], offset: 0, bytes: 0 }),
          ),
        }),
      ),
      /tensor directory has '1025' entries, above '1024'/,
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decodeFrame(bytes), (e) => e instanceof ProtocolError && message.test(e.message));
  }
});

Deno.test("parseRequest() and parseReply() check each message's fields", () => {
  const msg = (header: Record<string, unknown>) => decodeFrame(concatChunks(encodeFrame(header as never)));
  const load = {
    type: "load",
    id: 5,
    block: 1,
    stage: "denoiser",
    name: "embed",
    file: "denoiser/embed.onnx",
  };
  assert.equal(parseRequest(msg({ ...load, bytes: 10, lane: 1 })).request.type, "load");
  assert.throws(
    () => parseRequest(msg({ ...load, bytes: 10, lane: -1 })),
    (e) =>
      e instanceof ProtocolError &&
      e.message.startsWith("Cannot decode request 'load' (id '5'): field 'lane'"),
  );
  assert.throws(
    () => parseRequest(msg({ type: "launch", id: 1 })),
    /Cannot decode request 'launch' \(id '1'\)/,
  );
  const memory = { residentBytes: 1, availableBytes: 2, rssBytes: 3 };
  const result = parseReply(msg({ type: "result", id: 9, memory, future: "ignored" }));
  assert.deepEqual(result.reply, { type: "result", id: 9, memory });
  assert.throws(() => parseReply(msg({ type: "hello", id: 1, version: 1 })), /field 'device'/);
});

Deno.test("encodeFrame() refuses a tensor whose data does not match its dims", () => {
  const bad = { x: { dtype: "float32" as const, dims: [3], data: new Float32Array(2) } };
  assert.throws(
    () => encodeFrame({ type: "run", id: 1 }, bad),
    (e) =>
      e instanceof ProtocolError &&
      e.message === "Cannot encode tensor 'x': dims '[3]' need '12' bytes, data has '8'",
  );
});

Deno.test("a prelude claiming a frame above the receiver's limit is refused before anything is allocated", () => {
  const bytes = concatChunks(encodeFrame({ type: "memory", id: 1 }));
  new DataView(bytes.buffer).setBigUint64(16, 2n ** 40n, true); // claims a 1 TiB payload
  const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
  assert.throws(
    () => reader.read(bytes.subarray(0, PRELUDE_BYTES)), // the prelude alone is enough to refuse it
    (e) =>
      e instanceof ProtocolError &&
      /header and payload of '\d+' bytes exceed the frame limit '1048576'/.test(e.message),
  );
  assert.equal(reader.buffered, 0);
  // a header above its own limit too
  const big = concatChunks(encodeFrame({ type: "memory", id: 1 }));
  new DataView(big.buffer).setUint32(8, 2 ** 21, true);
  assert.throws(() => new FrameReader().read(big), /header of '2097152' bytes exceeds '1048576'/);
});
