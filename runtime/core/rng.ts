/**
 * Seeded, reproducible Gaussian noise for the initial latent.
 *
 * Generator: **Philox4x32-10** (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a
 * counter-based PRNG: a 64-bit key (the seed) and a 128-bit counter go through ten rounds of
 * multiply/xor/key-bump and give four uniform 32-bit words. Element `i` of the noise uses counter
 * `[floor(i / 4), 0, 0, 0]` and word `i % 4`, so any element is a pure function of (seed, i): the same seed
 * gives the same noise on every machine, in any order, for any chunking, and prompt 0 of a batch gets the
 * same noise whatever the batch size. Words become uniforms u = (w + 0.5) / 2^32 in (0, 1) and pairs of
 * them (words 0,1 and 2,3) become two standard normals by Box–Muller: r = sqrt(−2 ln u1),
 * z0 = r cos(2π u2), z1 = r sin(2π u2), rounded to float32.
 *
 * This does not reproduce `torch.randn` (which uses a different Philox layout and transform on CUDA);
 * to compare with Open-Sora bit for bit, pass the reference noise in instead.
 *
 * @module
 */
import type { Tensor } from "./types.ts";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;

/** High 32 bits of the 64-bit product of two uint32 values (exact, using 16-bit halves). */
function mulHi(a: number, b: number): number {
  const ah = a >>> 16;
  const al = a & 0xffff;
  const x = al * b; // < 2^48, exact
  return Math.floor((ah * b + Math.floor(x / 65536)) / 65536) >>> 0;
}

/**
 * Philox4x32-10: four uint32 output words for a 4-word counter and a 2-word key.
 *
 * @example
 * ```ts
 * import { philox4x32 } from "./rng.ts";
 * philox4x32([0, 0, 0, 0], [0, 0]); // [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
 * ```
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulHi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulHi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** The Philox key for a seed: its low and high 32 bits (seeds are integers in [0, 2^53)). */
export function seedKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`Cannot use seed "${seed}": a seed is an integer in [0, 2^53)`);
  }
  return [seed >>> 0, Math.floor(seed / TWO_POW_32) >>> 0];
}

/**
 * Standard-normal float32 noise of the given dims, a pure function of `seed` (see the module doc).
 *
 * @example
 * ```ts
 * import { gaussianNoise } from "./rng.ts";
 * const z = gaussianNoise([1, 4, 5, 8, 8], 42);
 * z.data.length; // 1280
 * ```
 */
export function gaussianNoise(dims: readonly number[], seed: number): Tensor<"float32"> {
  const key = seedKey(seed);
  const count = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  for (let base = 0, block = 0; base < count; base += 4, block++) {
    const w = philox4x32([block % TWO_POW_32, Math.floor(block / TWO_POW_32), 0, 0], key);
    for (let pair = 0; pair < 2; pair++) {
      const u1 = (w[2 * pair] + 0.5) / TWO_POW_32;
      const u2 = (w[2 * pair + 1] + 0.5) / TWO_POW_32;
      const r = Math.sqrt(-2 * Math.log(u1));
      const i = base + 2 * pair;
      if (i < count) data[i] = r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < count) data[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
  }
  return { dtype: "float32", dims: [...dims], data };
}
