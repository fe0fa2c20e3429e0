/**
 * Parity of the text encoder (fixture `t5_encoder`): the text stage run through the Deno runtime on the
 * fixture's input ids and mask; every other io tensor is a reference output.
 *
 * @module
 */
import { stageOf } from "../runtime/bundle/bundle.ts";
import { openStage } from "../runtime/core/stage.ts";
import { compare, type ParityCheck, type ParityResult, readAll } from "./_parity.ts";

/** The t5_encoder check. */
export const t5Encoder: ParityCheck = {
  name: "t5_encoder",
  matches: (fx) => fx.name === "t5_encoder" || fx.config.t5 !== undefined,
  async run(fx, env) {
    const bundle = await env.bundle(fx);
    const io = await readAll(fx);
    const text = stageOf(bundle, "text");
    const runner = await openStage({
      bundle,
      stage: "text",
      executor: env.executor,
      scheduler: env.scheduler,
      budget: { bytes: null },
      passes: 1,
      emit: () => {},
    });
    const results: ParityResult[] = [];
    try {
      const out = await runner.run(Object.fromEntries(text.inputs.map((k) => [k, io[k]])), 0);
      for (const [name, ref] of Object.entries(io)) {
        if (!text.inputs.includes(name)) results.push(compare(name, out[text.output], ref));
      }
    } finally {
      await runner.close();
    }
    return results;
  },
};
