/**
 * Parity of one STDiT3 forward (fixture `stdit3_forward`): the denoiser stage run once per variant through
 * the Deno runtime — `out` (text mask), `out_xmask` (plus a frame mask), `out_nomask` (all text tokens).
 *
 * @module
 */
import { stageOf } from "../runtime/bundle/bundle.ts";
import { openStage } from "../runtime/core/stage.ts";
import { cropTo, eye, fromArray, full, padTo, reshape, slice, toFloat32 } from "../runtime/core/tensor.ts";
import type { Tensor, TensorMap } from "../runtime/core/types.ts";
import { compare, type ParityCheck, type ParityResult, readAll } from "./_parity.ts";

/** The variants a fixture may hold: output name → how its inputs differ from `out`'s. */
const VARIANTS: Record<string, (io: TensorMap, base: TensorMap) => TensorMap> = {
  out: (_io, base) => base,
  out_xmask: (io, base) => ({ ...base, x_mask: toFloat32(io.x_mask) }),
  out_nomask: (_io, base) => ({ ...base, y_mask: full(base.y_mask.dims, 1) }),
};

/** The stdit3_forward check. */
export const stdit3Forward: ParityCheck = {
  name: "stdit3_forward",
  matches: (fx) =>
    fx.name === "stdit3_forward" ||
    (fx.config.model !== undefined && fx.files.includes("io.safetensors") &&
      !fx.files.includes("outputs.safetensors")),
  async run(fx, env) {
    const bundle = await env.bundle(fx);
    const io = await readAll(fx);
    const spec = stageOf(bundle, "denoiser");
    const x = io.x as Tensor<"float32">;
    const [B, , T, H, W] = x.dims;
    const [pt, ph, pw] = spec.patch_size;
    const padded = [B, x.dims[1], Math.ceil(T / pt) * pt, Math.ceil(H / ph) * ph, Math.ceil(W / pw) * pw];
    const frames = padded[2] / pt;
    const L = io.mask.dims[1];
    const base: TensorMap = {
      x: padTo(x, padded),
      timestep: io.timestep,
      y: reshape(io.y, [B, L, -1]),
      y_mask: toFloat32(io.mask),
      x_mask: full([B, frames], 1),
      fps: io.fps,
      height: slice(io.height, 0, 0, 1),
      width: slice(io.width, 0, 0, 1),
      merge_t: eye(frames),
      unmerge_t: eye(frames),
      rope_pos: fromArray([frames], Array.from({ length: frames }, (_, i) => i)),
    };
    const variants = Object.keys(VARIANTS).filter((k) => io[k]);
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor: env.executor,
      scheduler: env.scheduler,
      budget: { bytes: null },
      passes: variants.length,
      emit: () => {},
    });
    const results: ParityResult[] = [];
    try {
      for (const [pass, name] of variants.entries()) {
        const out = (await runner.run(VARIANTS[name](io, base), pass))[spec.output];
        const ref = io[name];
        results.push(compare(name, out && cropTo(out, [B, out.dims[1], T, H, W]), ref));
      }
    } finally {
      await runner.close();
    }
    return results;
  },
};
