import assert from "node:assert/strict";
import { denoiserWorkBytes } from "./work_estimate.ts";

const XL = { hidden_size: 1152, num_heads: 16, patch_size: [1, 2, 2] as [number, number, number] };

Deno.test("denoiserWorkBytes() counts STDiT3-XL's activations at the bench shape (doubled for temporaries)", () => {
  // tokens 10·4·4 = 160; hidden 160·1152·10; scores 16·(10·16² + 16·10² + 160·300); batch 2; 4 bytes; ×2
  const want = 4 * 2 * 2 * (160 * 1152 * 10 + 16 * (10 * 256 + 16 * 100 + 160 * 300));
  assert.equal(denoiserWorkBytes(XL, { batch: 2, t: 10, h: 8, w: 8, textLength: 300 }), want);
});

Deno.test("denoiserWorkBytes() grows linearly with the batch and about a gigabyte at the paper's 256×256×68", () => {
  const one = denoiserWorkBytes(XL, { batch: 2, t: 20, h: 32, w: 32, textLength: 300 });
  assert.equal(denoiserWorkBytes(XL, { batch: 4, t: 20, h: 32, w: 32, textLength: 300 }), 2 * one);
  assert.ok(one > 0.8e9 && one < 2.5e9, `${one}`);
  // patching: an odd latent size rounds up to whole patches
  assert.equal(
    denoiserWorkBytes(XL, { batch: 2, t: 10, h: 7, w: 7, textLength: 300 }),
    denoiserWorkBytes(XL, { batch: 2, t: 10, h: 8, w: 8, textLength: 300 }),
  );
});
