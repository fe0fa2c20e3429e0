/**
 * A worker lane: a Deno worker that owns a {@link LaneSessions} (its onnxruntime-node sessions).
 * `InferenceSession.create` and `run` block the thread that calls them, so a worker lane runs them off the
 * main thread; the local executor talks to it with {@link LaneRequest} messages handled strictly in
 * arrival order.
 *
 * @module
 */
import type { LaneReply, LaneRequest } from "./_lane_protocol.ts";
import { LaneSessions, serveInOrder } from "./lane_sessions.ts";

const scope = self as unknown as {
  postMessage(message: LaneReply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<LaneRequest>) => void) | null;
};

const serve = serveInOrder(new LaneSessions(), (reply, transfer) => scope.postMessage(reply, transfer));
scope.onmessage = (e: MessageEvent<LaneRequest>) => serve(e.data);
