/**
 * The `ios` executor plugin: runs a plan's blocks on a device (an iPhone app serving CoreML blocks, or
 * the loopback device) over the bridge protocol (ios-bridge/PROTOCOL.md). The same {@link Plan} that
 * drives the local lanes drives the phone: each plan lane is a device-side serial queue, so a load on
 * one lane overlaps a run on another. Blocks are named by their path relative to the bundle folder
 * (`denoiser/spatial_00.onnx`); the device maps that name to its own model file.
 *
 * The host must have paired with the device first (`ios-bridge/pair.ts --pair`); every session is then
 * authenticated with the paired key and every frame carries a MAC (ios-bridge/PROTOCOL.md). When the
 * recipe gives no memory budget, the plans use the device's own memory: its `availableBytes` minus
 * `budgetMargin` ({@link IosExecutor.defaultBudget}).
 *
 * Cancellation happens between blocks (the plan runner stops dispatching); a block already running on
 * the device finishes, since a CoreML prediction cannot be interrupted.
 *
 * @module
 */
import { basename, dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { ExecutorError } from "../runtime/core/errors.ts";
import { parseBudget } from "../runtime/recipe/recipe_schema.ts";
import type {
  BlockRef,
  Executor,
  ExecutorBudget,
  LoadedBlock,
  PluginDefinition,
  TensorMap,
} from "../runtime/core/types.ts";
import { BACKEND, DeviceLink } from "./device_link.ts";
import { defaultHostKeyFile, KeyStore } from "./keys.ts";
import type { DeviceMemory } from "./messages.ts";

/** Options of the `ios` executor (after defaults). */
export interface IosOptions {
  /** The device's address (the iPhone app shows it; the loopback device binds 127.0.0.1). */
  host: string;
  /** The device's TCP port. */
  port: number;
  /** Most milliseconds to wait for any one answer (a first CoreML load compiles the model: be generous). */
  timeoutMs: number;
  /** Host folder block paths are relative to (the bundle folder); default: the last two path parts. */
  blockDir?: string;
  /** The host's key file (paired devices); default: `ios-bridge/keys.json` under the user's config dir. */
  keys?: string;
  /** Bytes kept free on the device when the recipe gives no budget (budget = availableBytes − this). */
  budgetMargin: number;
}

/** Default {@link IosOptions.budgetMargin}: 256 MiB left to the app, the OS and allocator slack. */
export const DEFAULT_BUDGET_MARGIN: number = 256 * 2 ** 20;

const size = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (v === 0 || v === "0") return 0;
  const b = parseBudget(v);
  if (b === null || typeof b === "string" || !("bytes" in b)) {
    ctx.addIssue({
      code: "custom",
      message: `'${v}' is not a size (examples: '256MiB', '0.5GB', 268435456)`,
    });
    return z.NEVER;
  }
  return b.bytes;
});

const iosOptions: z.ZodType<IosOptions> = z.object({
  /** The device's address (the iPhone app shows it; the loopback device binds 127.0.0.1). */
  host: z.string().min(1).default("127.0.0.1"),
  /** The device's TCP port. */
  port: z.number().int().min(1).max(65535).default(9777),
  /** Most milliseconds to wait for any one answer (a first CoreML load compiles the model: be generous). */
  timeoutMs: z.number().int().positive().default(300_000),
  /** Host folder block paths are relative to (the bundle folder); default: the last two path parts. */
  blockDir: z.string().min(1).optional(),
  /** The host's key file (paired devices); default: `ios-bridge/keys.json` under the user's config dir. */
  keys: z.string().min(1).optional(),
  /** Bytes kept free on the device when the recipe gives no budget (budget = availableBytes − this). */
  budgetMargin: size.default(DEFAULT_BUDGET_MARGIN),
}).strict() as unknown as z.ZodType<IosOptions>;

const label = (ref: BlockRef) => `${ref.stage}/${ref.name}`;

/** An {@link Executor} whose blocks run on a device reached over TCP. */
export class IosExecutor implements Executor {
  readonly name = BACKEND;
  readonly kind = "executor" as const;
  #options: IosOptions;
  #link: DeviceLink | null = null;
  #opening: Promise<DeviceLink> | null = null;
  #nextBlock = 1;
  #loaded = new Map<number, { block: LoadedBlock; link: DeviceLink }>();

  constructor(options: IosOptions) {
    this.#options = options;
  }

  /** What the device said in its `hello` (null before `start()`). */
  get device(): DeviceLink["info"] | null {
    return this.#link?.info ?? null;
  }

  /** Connect and greet the device (again, if an earlier connection was lost). Plan lanes need no setup. */
  async start(_lanes: number): Promise<void> {
    if (this.#link && !this.#link.closed) return;
    this.#opening ??= KeyStore.open(this.#options.keys ?? defaultHostKeyFile(), "host").then((keys) =>
      DeviceLink.open(this.#options.host, this.#options.port, { timeoutMs: this.#options.timeoutMs, keys })
    );
    try {
      this.#link = await this.#opening;
    } finally {
      this.#opening = null;
    }
  }

  #connected(action: string, block: string | null): DeviceLink {
    if (!this.#link) {
      throw new ExecutorError(
        `Cannot ${action}: the ios executor is not connected (call start())`,
        BACKEND,
        block,
      );
    }
    return this.#link;
  }

  /** The name the device knows a block file by: relative to `blockDir`, POSIX separators. */
  #deviceFile(ref: BlockRef): string {
    const dir = this.#options.blockDir;
    const rel = dir
      ? relative(resolve(dir), resolve(ref.path))
      : `${basename(dirname(ref.path))}/${basename(ref.path)}`;
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
      throw new ExecutorError(
        `Cannot load block '${label(ref)}': '${ref.path}' is not inside blockDir '${dir}'`,
        BACKEND,
        label(ref),
      );
    }
    return rel.split(sep).join("/");
  }

  /** Ask the device to load the block on its lane's queue; resolves when it is loaded there. */
  async load(ref: BlockRef): Promise<LoadedBlock> {
    const action = `load block '${label(ref)}'`;
    const link = this.#connected(action, label(ref));
    const file = this.#deviceFile(ref);
    const id = this.#nextBlock++;
    const { stage, name, bytes, lane } = ref;
    await link.request({ type: "load", block: id, stage, name, file, bytes, lane }, {}, action, label(ref));
    const block: LoadedBlock = Object.freeze({ ref, id });
    this.#loaded.set(id, { block, link });
    return block;
  }

  /** Run a loaded block on the device; the feeds are sent as they are (not copied, not detached). */
  async run(block: LoadedBlock, feeds: TensorMap): Promise<TensorMap> {
    const action = `run block '${label(block.ref)}'`;
    const entry = this.#loaded.get(block.id);
    if (!entry) throw new ExecutorError(`Cannot ${action}: it is not loaded`, BACKEND, label(block.ref));
    const { tensors } = await entry.link.request(
      { type: "run", block: block.id },
      feeds,
      action,
      label(block.ref),
    );
    return tensors;
  }

  /** Ask the device to release the block (a no-op when its connection is gone: the device freed it). */
  async unload(block: LoadedBlock): Promise<void> {
    const entry = this.#loaded.get(block.id);
    if (!entry) return;
    this.#loaded.delete(block.id);
    if (entry.link.closed) return;
    const action = `unload block '${label(block.ref)}'`;
    await entry.link.request({ type: "unload", block: block.id }, {}, action, label(block.ref));
  }

  /** The device's figures: loaded block bytes, memory it may still allocate, its process footprint. */
  async memory(): Promise<DeviceMemory> {
    const action = "read the device's memory";
    const { reply } = await this.#connected(action, null).request({ type: "memory" }, {}, action, null);
    if (!reply.memory) {
      throw new ExecutorError(`Cannot ${action}: the device's answer has no 'memory'`, BACKEND, null);
    }
    return reply.memory;
  }

  /**
   * The budget to plan against when the recipe gives none: the memory the device says it may still
   * allocate (`availableBytes`, asked now) minus `budgetMargin`. Connects if needed.
   */
  async defaultBudget(): Promise<ExecutorBudget> {
    await this.start(1);
    const { availableBytes } = await this.memory();
    const marginBytes = this.#options.budgetMargin;
    const device = this.#link!.info.device;
    if (availableBytes <= marginBytes) {
      throw new ExecutorError(
        `Cannot plan against device '${device}': it reports '${availableBytes}' bytes available, not more ` +
          `than the margin '${marginBytes}' (give a budget or a smaller budgetMargin)`,
        BACKEND,
        null,
      );
    }
    return {
      bytes: availableBytes - marginBytes,
      source: { executor: BACKEND, device, deviceId: this.#link!.info.deviceId, availableBytes, marginBytes },
    };
  }

  /** Wait for requests in flight, then close the connection (the device releases every block of it). */
  async close(): Promise<void> {
    const link = this.#link;
    this.#link = null;
    this.#loaded.clear();
    await link?.drainAndClose();
  }
}

/**
 * The `ios` executor plugin definition (`executor: { name: ios, host: 192.168.1.20, port: 9777 }`).
 *
 * @example
 * ```ts
 * import { ios } from "./executor.ts";
 * const executor = ios.create(ios.options.parse({ host: "127.0.0.1", port: 9777 }));
 * console.assert(executor.name === "ios");
 * ```
 */
export const ios:
  & { create(options: IosOptions): IosExecutor }
  & PluginDefinition<"executor", typeof iosOptions> = {
    name: BACKEND,
    kind: "executor",
    options: iosOptions,
    create: (options) => new IosExecutor(options),
  };

/** The same definition under the name a recipe's `plugin: ./ios-bridge/executor.ts` looks for. */
export const plugin: PluginDefinition<"executor", typeof iosOptions> = ios;
