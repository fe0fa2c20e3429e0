/**
 * The iOS bridge: the `ios` executor (blocks run on a phone, or on the loopback device, over a small
 * binary protocol), the loopback device, and the protocol codec. See ios-bridge/README.md and PROTOCOL.md.
 *
 * @example
 * ```ts ignore
 * import { ios, startLoopbackDevice } from "./ios-bridge/mod.ts";
 * const device = startLoopbackDevice({ bundleDir: "models/default", port: 0 });
 * const executor = ios.create(ios.options.parse({ port: device.port }));
 * ```
 *
 * @module
 */
export { DEFAULT_BUDGET_MARGIN, ios, IosExecutor, type IosOptions, plugin } from "./executor.ts";
export { type Paired, PairingError, type PairOptions, pairWithDevice } from "./pair.ts";
export { configDir, defaultHostKeyFile, KeyStore, KeyStoreError } from "./keys.ts";
export {
  DEFAULT_MAX_FRAME_BYTES,
  type DeviceTrust,
  type PairingOptions,
  PairingWindow,
} from "./device_trust.ts";
export { PBKDF2_ITERATIONS } from "./crypto.ts";
export {
  type LoopbackDevice,
  LoopbackError,
  type LoopbackOptions,
  startLoopbackDevice,
} from "./loopback_device.ts";
export { type DeviceSessionOptions, resolveInside, serveDeviceSession } from "./device_session.ts";
export { type DeviceInfo, DeviceLink } from "./device_link.ts";
export { type DeviceMemory, parseReply, parseRequest, type Reply, type Request } from "./messages.ts";
export { concatChunks, decodeRaw, FrameReader, type RawFrame } from "./frame_reader.ts";
export { FrameConnection, type ReceivedFrame, type SessionKeys } from "./connection.ts";
export {
  decodeFrame,
  encodeFrame,
  type Frame,
  type FrameHeader,
  type FrameLimits,
  PROTOCOL_VERSION,
  ProtocolError,
  type TensorSpec,
} from "./protocol.ts";
