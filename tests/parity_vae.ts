/**
 * Parity of the VAE decode (fixtures `vae_temporal_decode`, `vae_spatial_decode`, `vae_pipeline_decode`):
 * each `<p>_dec_z` latent is decoded through the Deno runtime to as many frames as each reference
 * `<p>_dec_out*` holds, by runtime/pipeline/vae_stage.ts. A frame count the chunked pipeline cannot produce from
 * that latent (the temporal fixture's single-chunk `num_frames = 18` decode) runs the stage once and keeps
 * the last N frames, as `VAE_Temporal.decode(num_frames=N)` does. (Encoders are not part of the runtime.)
 *
 * @module
 */
import { stageOf } from "../runtime/bundle/bundle.ts";
import { openStage } from "../runtime/core/stage.ts";
import { slice } from "../runtime/core/tensor.ts";
import { decodeVideo, latentFrames } from "../runtime/pipeline/vae_stage.ts";
import type { Tensor } from "../runtime/core/types.ts";
import { compare, type ParityCheck, type ParityEnv, type ParityResult, readAll } from "./_parity.ts";
import type { Bundle } from "../runtime/bundle/bundle.ts";

async function decodeOneChunk(bundle: Bundle, env: ParityEnv, z: Tensor, frames: number): Promise<Tensor> {
  const vae = stageOf(bundle, "vae");
  const runner = await openStage({
    bundle,
    stage: "vae",
    executor: env.executor,
    scheduler: env.scheduler,
    budget: { bytes: null },
    passes: 1,
    emit: () => {},
  });
  try {
    const out = await runner.run({ [vae.blocks[0].inputs[0].name]: z }, 0);
    const last = vae.blocks[vae.blocks.length - 1].outputs[0].name;
    const all = out[last];
    return slice(all, 2, all.dims[2] - frames, all.dims[2]);
  } finally {
    await runner.close();
  }
}

/** The VAE decode check. */
export const vaeDecode: ParityCheck = {
  name: "vae_decode",
  matches: (fx) => ["temporal", "spatial", "pipeline"].some((k) => fx.config[k] !== undefined),
  async run(fx, env) {
    const bundle = await env.bundle(fx);
    const vae = stageOf(bundle, "vae");
    const io = await readAll(fx);
    const results: ParityResult[] = [];
    for (const zName of Object.keys(io).filter((k) => k.endsWith("_dec_z"))) {
      const prefix = zName.slice(0, -"z".length);
      const z = io[zName] as Tensor<"float32">;
      for (const outName of Object.keys(io).filter((k) => k.startsWith(`${prefix}out`)).sort()) {
        const ref = io[outName];
        const frames = ref.dims[2];
        const pipeline = vae.parts?.includes("temporal") === false || latentFrames(vae, frames) === z.dims[2];
        const video = pipeline
          ? (await decodeVideo({
            bundle,
            latent: z,
            frames,
            executor: env.executor,
            scheduler: env.scheduler,
            budget: { bytes: null },
            emit: () => {},
          })).video
          : await decodeOneChunk(bundle, env, z, frames);
        results.push({
          ...compare(outName, video, ref),
          detail: pipeline ? undefined : "single-chunk decode",
        });
      }
    }
    return results;
  },
};
