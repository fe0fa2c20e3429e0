/**
 * A worker lane: a Deno worker that owns a {@link LaneSessions} (its onnxruntime-node sessions).
 * `InferenceSession.create` and `run` block the thread that calls them, so a worker lane runs them off the
 * main thread; the local executor talks to it with {@link LaneRequest} messages handled strictly in
 * arrival order.
 *
 * @module
 */
import type { LaneReply, LaneRequest } from "./_lane_protocol.ts";
import { LaneSessions } from "./lane_sessions.ts";

const lane = new LaneSessions();
const scope = self as unknown as {
  postMessage(message: LaneReply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<LaneRequest>) => void) | null;
};

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e: MessageEvent<LaneRequest>) => {
  const req = e.data;
  queue = queue.then(async () => {
    const { reply, transfer } = await lane.answer(req);
    scope.postMessage({ ...reply, id: req.id } as LaneReply, transfer);
  }).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    scope.postMessage({ id: req.id, ok: false, error: message });
  });
};
