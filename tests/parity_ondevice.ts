/**
 * Parity checks for the On-device-Sora fixtures (`ondevice_lpl`, `ondevice_tdtm`), registered here so
 * tests/parity.ts runs them before the generic denoiser checks. Append a {@link ParityCheck} per fixture.
 *
 * @module
 */
import type { ParityCheck } from "./_parity.ts";

/** The on-device checks (LPL, TDTM), tried before the other checks. */
export const ondeviceChecks: ParityCheck[] = [];
