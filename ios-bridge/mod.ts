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
export { ios, IosExecutor, type IosOptions, plugin } from "./executor.ts";
export {
  type LoopbackDevice,
  LoopbackError,
  type LoopbackOptions,
  startLoopbackDevice,
} from "./loopback_device.ts";
export { type DeviceSessionOptions, resolveInside, serveDeviceSession } from "./device_session.ts";
export { type DeviceInfo, DeviceLink } from "./device_link.ts";
export { type DeviceMemory, parseReply, parseRequest, type Reply, type Request } from "./messages.ts";
export { concatChunks, FrameReader } from "./frame_reader.ts";
export {
  decodeFrame,
  encodeFrame,
  type Frame,
  type FrameHeader,
  PROTOCOL_VERSION,
  ProtocolError,
  type TensorSpec,
} from "./protocol.ts";
