/**
 * The messages of the iOS bridge protocol, version 2 (ios-bridge/PROTOCOL.md), as zod schemas over frame
 * headers: requests (host → device) `pair`, `pair-confirm`, `hello`, `auth`, `load`, `run`, `unload`,
 * `memory`; replies (device → host) `pair-challenge`, `paired`, `challenge`, `hello`, `result`, `error`.
 * Every request carries an `id`; its reply carries the same `id`.
 *
 * @module
 */
import { z } from "zod";
import type { TensorMap } from "../runtime/core/types.ts";
import { type Frame, ProtocolError } from "./protocol.ts";

const id = z.number().int().nonnegative();
const bytes = z.number().int().nonnegative();

/** Device memory figures: loaded block bytes, what the OS still grants, the process footprint. */
export const deviceMemory = z.object({ residentBytes: bytes, availableBytes: bytes, rssBytes: bytes });
/** Device memory figures (see {@link deviceMemory}). */
export type DeviceMemory = z.infer<typeof deviceMemory>;

const b64 = z.string().max(1024).regex(/^[A-Za-z0-9+/]*={0,2}$/, "is not base64");
const ident = z.string().min(1).max(128);

const requestSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    id,
    version: z.number().int(),
    client: z.string(),
    hostId: ident,
    nonce: b64,
  }),
  z.object({ type: z.literal("auth"), id, proof: b64 }),
  z.object({
    type: z.literal("pair"),
    id,
    version: z.number().int(),
    client: z.string(),
    hostId: ident,
    publicKey: b64,
  }),
  z.object({ type: z.literal("pair-confirm"), id, proof: b64 }),
  z.object({
    type: z.literal("load"),
    id,
    block: id,
    stage: z.enum(["text", "denoiser", "vae"]),
    name: z.string().min(1),
    file: z.string().min(1),
    bytes,
    lane: z.number().int().nonnegative(),
  }),
  z.object({ type: z.literal("run"), id, block: id }),
  z.object({ type: z.literal("unload"), id, block: id }),
  z.object({ type: z.literal("memory"), id }),
]);

const replySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("challenge"), id, deviceId: ident, device: z.string(), nonce: b64 }),
  z.object({
    type: z.literal("pair-challenge"),
    id,
    deviceId: ident,
    device: z.string(),
    publicKey: b64,
    salt: b64,
    iterations: z.number().int().positive(),
  }),
  z.object({ type: z.literal("paired"), id, proof: b64 }),
  z.object({
    type: z.literal("hello"),
    id,
    version: z.number().int(),
    device: z.string(),
    deviceId: ident,
    backend: z.string(),
    lanes: z.number().int().positive(),
    memory: deviceMemory,
    maxFrameBytes: bytes,
  }),
  z.object({
    type: z.literal("result"),
    id,
    memory: deviceMemory.optional(),
    elapsedMs: z.number().optional(),
  }),
  z.object({ type: z.literal("error"), id, message: z.string() }),
]);

/** A host → device message (its tensors, for `run`, travel beside it). */
export type Request = z.infer<typeof requestSchema>;
/** A device → host message (its tensors, for a `run` result, travel beside it). */
export type Reply = z.infer<typeof replySchema>;

function parse<T>(schema: z.ZodType<T>, frame: Frame, side: string): T {
  const r = schema.safeParse(frame.header);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const key = issue.path.map(String).join(".");
  throw new ProtocolError(
    `Cannot decode ${side} '${String(frame.header.type)}' (id '${frame.header.id}'): ` +
      `${key ? `field '${key}' ` : ""}${issue.message}`,
  );
}

/**
 * Validate a frame received by the device as a request; throws ProtocolError naming the field.
 *
 * @example
 * ```ts
 * import { parseRequest } from "./messages.ts";
 * const { request } = parseRequest({ header: { type: "memory", id: 4 }, tensors: {} });
 * console.assert(request.type === "memory");
 * ```
 */
export function parseRequest(frame: Frame): { request: Request; tensors: TensorMap } {
  return { request: parse(requestSchema, frame, "request"), tensors: frame.tensors };
}

/**
 * Validate a frame received by the host as a reply; throws ProtocolError naming the field.
 *
 * @example
 * ```ts
 * import { parseReply } from "./messages.ts";
 * const reply = parseReply({ header: { type: "error", id: 4, message: "no such block" }, tensors: {} });
 * console.assert(reply.reply.type === "error");
 * ```
 */
export function parseReply(frame: Frame): { reply: Reply; tensors: TensorMap } {
  return { reply: parse(replySchema, frame, "reply"), tensors: frame.tensors };
}
