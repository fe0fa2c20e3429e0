import assert from "node:assert/strict";
import { gaussianNoise, philox4x32, seedKey } from "./rng.ts";

// Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter[4], key[2] -> result[4].
const KAT: [[number, number, number, number], [number, number], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

Deno.test("philox4x32() matches the Random123 known-answer vectors", () => {
  for (const [counter, key, expected] of KAT) assert.deepEqual(philox4x32(counter, key), expected);
});

Deno.test("gaussianNoise() is a pure function of the seed and the element index", () => {
  const a = gaussianNoise([2, 4, 3, 5, 7], 42);
  const b = gaussianNoise([2, 4, 3, 5, 7], 42);
  assert.deepEqual(a.dims, [2, 4, 3, 5, 7]);
  assert.deepEqual(a.data, b.data);
  // Prompt 0 of a batch gets the same noise whatever the batch size (row-major prefix).
  const single = gaussianNoise([1, 4, 3, 5, 7], 42);
  assert.deepEqual(single.data, a.data.subarray(0, single.data.length));
  // Odd lengths are a prefix of longer ones too.
  assert.deepEqual(gaussianNoise([7], 5).data, gaussianNoise([9], 5).data.subarray(0, 7));
  const other = gaussianNoise([2, 4, 3, 5, 7], 43);
  const same = a.data.filter((v, i) => v === other.data[i]).length;
  assert.ok(same < 3, `seeds 42 and 43 share ${same} values`);
});

Deno.test("gaussianNoise() has standard-normal moments and tails", () => {
  const n = 200_000;
  const { data } = gaussianNoise([n], 1234);
  let mean = 0, m2 = 0, m3 = 0, m4 = 0, beyond2 = 0;
  for (const v of data) mean += v;
  mean /= n;
  for (const v of data) {
    const d = v - mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
    if (Math.abs(v) > 1.959964) beyond2++;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  // Standard errors at n = 2e5: mean 0.0022, var 0.0032, skew 0.0055, kurtosis 0.011, tail share 0.0005.
  assert.ok(Math.abs(mean) < 0.012, `mean ${mean}`);
  assert.ok(Math.abs(m2 - 1) < 0.016, `variance ${m2}`);
  assert.ok(Math.abs(m3 / m2 ** 1.5) < 0.03, `skewness ${m3 / m2 ** 1.5}`);
  assert.ok(Math.abs(m4 / (m2 * m2) - 3) < 0.06, `kurtosis ${m4 / (m2 * m2)}`);
  assert.ok(Math.abs(beyond2 / n - 0.05) < 0.003, `share beyond 1.96: ${beyond2 / n}`);
  // Consecutive values are uncorrelated (the Box-Muller pairs included).
  let lag = 0;
  for (let i = 1; i < n; i++) lag += data[i] * data[i - 1];
  assert.ok(Math.abs(lag / n) < 0.012, `lag-1 correlation ${lag / n}`);
});

Deno.test("seedKey() splits a seed into 32-bit words and rejects non-integers", () => {
  assert.deepEqual(seedKey(42), [42, 0]);
  assert.deepEqual(seedKey(2 ** 32 + 7), [7, 1]);
  assert.throws(() => seedKey(-1), /Cannot use seed "-1"/);
  assert.throws(() => seedKey(1.5), /Cannot use seed "1.5"/);
});
