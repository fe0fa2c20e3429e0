/**
 * Measure what each denoiser block costs in memory at the bench's shapes: two model calls with the
 * sequential scheduler on one lane (the second pass's figures are kept: the first also pays the lane's
 * one-time start-up), the process's peak-RSS mark reset around every op. Per block: the RSS
 * it adds once loaded (`residentBytes`, often more than its file: onnxruntime's prepacked weights), the
 * extra peak while it loads (`loadExtraBytes`: the file buffer next to the built session) and the peak of
 * its run (`runBytes`). The bench hands the planners these measured sizes instead of the file sizes.
 *
 * @module
 */
import { type Bundle, stageOf } from "../runtime/bundle/bundle.ts";
import { denoise } from "../runtime/core/denoise.ts";
import { local } from "../runtime/local/executor_local.ts";
import { peakRssBytes, resetPeakRss, rssBytes } from "../runtime/core/memory.ts";
import { openStage } from "../runtime/core/stage.ts";
import type { RunEvent } from "../runtime/core/types.ts";
import { euler } from "../samplers/euler.ts";
import { sequential } from "../schedulers/sequential.ts";
import type { DenoiseInputs } from "./_speed_row.ts";
import { instantiate } from "../runtime/core/registry.ts";

/**
 * Each block's memory at `inputs`' shapes (see the module comment), and one lane's start-up.
 *
 * @example
 * ```ts ignore
 * const memory = await measureBlockMemory(bundle, inputs, { threads: 1 });
 * ```
 */
export async function measureBlockMemory(
  bundle: Bundle,
  inputs: DenoiseInputs,
  options: { threads: number },
): Promise<BlockMemory> {
  const m: BlockMemory = { residentBytes: {}, loadExtraBytes: {}, runBytes: {}, laneBytes: 0 };
  let firstLoad: { block: string; bytes: number } | null = null;
  resetPeakRss();
  let before = rssBytes();
  let loaded = before;
  const emit = (e: RunEvent) => {
    if (e.type !== "block") return;
    if (e.op === "load") {
      loaded = rssBytes();
      m.residentBytes[e.block] = Math.max(0, loaded - before);
      firstLoad ??= { block: e.block, bytes: loaded - before };
      m.loadExtraBytes[e.block] = Math.max(0, peakRssBytes() - loaded);
    } else if (e.op === "run") {
      m.runBytes[e.block] = Math.max(0, peakRssBytes() - loaded);
    } else {
      before = rssBytes();
    }
    resetPeakRss();
  };
  // Trim after every unload so that each run starts from a clean heap and its peak is its own working
  // memory (in a real plan a lane keeps the largest of these for its next runs).
  const executor = local.create(local.options.parse({ threads: options.threads, lanes: 1, trim: "always" }));
  try {
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor,
      scheduler: instantiate(sequential),
      budget: { bytes: null },
      passes: 2,
      emit,
    });
    try {
      await denoise({
        bundle,
        runner,
        sampler: instantiate(euler),
        tokenOps: [],
        ...inputs,
        timesteps: inputs.timesteps.slice(0, 2),
        emit: () => {},
      });
    } finally {
      await runner.close();
    }
  } finally {
    await executor.close();
  }
  // The lane's one-time start-up (worker, onnxruntime) is what the first load added beyond the same block's
  // second load.
  const first = firstLoad as { block: string; bytes: number } | null;
  if (first) m.laneBytes = Math.max(0, first.bytes - (m.residentBytes[first.block] ?? 0));
  return m;
}

/** Measured memory per block name, bytes. */
export interface BlockMemory {
  residentBytes: Record<string, number>;
  loadExtraBytes: Record<string, number>;
  runBytes: Record<string, number>;
  /** What starting one lane adds to the process (its worker and onnxruntime), outside any block. */
  laneBytes: number;
}

/**
 * The bundle with each block's `bytes` set to what it measured once loaded (never below its file size),
 * and the working memory the planners get: its run's peak plus the extra peak of loading a block.
 *
 * @example
 * ```ts ignore
 * const { bundle: sized, workBytes } = withMeasuredSizes(bundle, await measureBlockMemory(bundle, inputs, { threads: 1 }));
 * ```
 */
export function withMeasuredSizes(
  bundle: Bundle,
  m: BlockMemory,
): { bundle: Bundle; workBytes: Record<string, number> } {
  const spec = stageOf(bundle, "denoiser");
  const loadExtra = Math.max(0, ...Object.values(m.loadExtraBytes));
  const workBytes: Record<string, number> = {};
  const blocks = spec.blocks.map((b) => {
    workBytes[b.name] = (m.runBytes[b.name] ?? 0) + loadExtra;
    return { ...b, bytes: Math.max(b.bytes, m.residentBytes[b.name] ?? 0) };
  });
  return { bundle: { ...bundle, denoiser: { ...spec, blocks } }, workBytes };
}
