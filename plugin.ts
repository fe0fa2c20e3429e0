/**
 * The plugin author's entry point: everything a sampler, token op, memory scheduler or executor written
 * outside this repository needs, without copying files: the types, `definePlugin`, the tensor helpers, the
 * Euler step size and the schedule, the errors to throw, and the conformance checks to test with.
 *
 * @example
 * ```ts ignore
 * import { z } from "zod";
 * import { addScaled, assertSamplerConforms, definePlugin, eulerDt } from "odsora/plugin.ts";
 *
 * export const plugin = definePlugin({
 *   name: "my-euler",
 *   kind: "sampler",
 *   options: z.object({}).strict(),
 *   create: () => ({
 *     async sample(model, x, { timesteps }) {
 *       for (let i = 0; i < timesteps.length; i++) x = addScaled(x, await model(x, timesteps[i], i), eulerDt(timesteps, i));
 *       return x;
 *     },
 *   }),
 * });
 * Deno.test("my-euler conforms", () => assertSamplerConforms(plugin, { order: 1 }));
 * ```
 *
 * @module
 */
export type * from "./runtime/core/types.ts";
export { definePlugin, instantiate, type PluginSpec } from "./runtime/core/registry.ts";
export {
  addScaled,
  allocate,
  concat,
  cropTo,
  eye,
  fromArray,
  full,
  matmul,
  numel,
  padTo,
  relL2,
  reshape,
  slice,
  sub,
  tensor,
  toFloat32,
  zeros,
} from "./runtime/core/tensor.ts";
export { BudgetError, formatBytes, PluginError } from "./runtime/core/errors.ts";
export { rflowTimesteps } from "./runtime/core/timesteps.ts";
export { runSampler } from "./runtime/core/sample.ts";
export { planStage } from "./runtime/core/stage.ts";
export {
  assertSamplerConforms,
  assertSchedulerConforms,
  convergenceOrder,
  type SamplerConformance,
  type SchedulerConformance,
} from "./runtime/core/conformance.ts";
export { eulerDt } from "./samplers/euler.ts";
