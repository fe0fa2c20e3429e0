/**
 * A small denoiser-like stage for scheduler tests (test-only): embed, two spatial/temporal pairs, final.
 *
 * @module
 */
import type { BlockInfo, StageInfo } from "../runtime/core/types.ts";

/** Blocks e=4, s0=t0=s1=t1=10, f=2 bytes, 3 bytes of working memory each. */
export const SMALL_BLOCKS: BlockInfo[] = [
  { name: "embed", bytes: 4, workBytes: 3 },
  { name: "spatial_00", bytes: 10, workBytes: 3 },
  { name: "temporal_00", bytes: 10, workBytes: 3 },
  { name: "spatial_01", bytes: 10, workBytes: 3 },
  { name: "temporal_01", bytes: 10, workBytes: 3 },
  { name: "final", bytes: 2, workBytes: 3 },
];

/** The stage of {@link SMALL_BLOCKS}, planned for 30 passes. */
export const SMALL_STAGE: StageInfo = { stage: "denoiser", blocks: SMALL_BLOCKS, passes: 30 };
