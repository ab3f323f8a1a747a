import { z } from 'zod';
import { MAX_FRAME_HEIGHT, MAX_FRAME_WIDTH, type FrameData } from '../frame.js';
import type { TensorSpec } from '../image/tensor.js';

/**
 * The app ⇄ agent wire protocol, version 2 (the agent still serves version
 * 1 apps: frames and tensors over IPC). Messages travel over Node's IPC
 * channel with `serialization: 'advanced'` (the V8 serializer), so pixel and
 * tensor buffers cross as bytes, not JSON arrays.
 *
 * The app is untrusted: the agent validates every message it receives with
 * {@link appMessageSchema} (sizes capped) before acting on it.
 *
 * @example
 * ```ts
 * channel.hello({ name, version }); // sends { t: 'hello', v: PROTOCOL_VERSION, ... }
 * ```
 */
export const PROTOCOL_VERSION = 2;

/**
 * Caps on what an app may send (STYLE.md: hard size caps on everything read from outside).
 *
 * @example
 * ```ts
 * const message = text.slice(0, LIMITS.logMessageChars);
 * ```
 */
export const LIMITS = Object.freeze({
  /** Longest log message; longer ones are cut by the SDK and refused by the agent. */
  logMessageChars: 16 * 1024,
  logFields: 32,
  storageKeyChars: 256,
  /** Largest stored value (UTF-8 string). */
  storageValueChars: 256 * 1024,
  /** Largest model input (64 Mi floats = 256 MiB). */
  modelInputFloats: 64 * 1024 * 1024,
  /** Requests one app may have in flight at once. */
  pendingRequests: 16,
  /** Longest wait an `input.get` may ask for. */
  maxGetTimeoutMs: 60_000,
});

/**
 * Storage keys: `[A-Za-z0-9._:/-]`, 1..256 characters; opaque to the agent (never a file name).
 *
 * @example
 * ```ts
 * STORAGE_KEY.test('zone/a:count'); // true
 * ```
 */
export const STORAGE_KEY = /^[A-Za-z0-9._:/-]{1,256}$/;
/**
 * Prometheus-style metric name.
 *
 * @example
 * ```ts
 * METRIC_NAME.test('faces_total'); // true
 * ```
 */
export const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,99}$/;

/**
 * What a model expects and returns, as the agent tells the app in `init`.
 *
 * @example
 * ```ts
 * const spec: ModelSpec = { input: { name: 'input:0', shape: [1, 256, 256, 3], layout: 'NHWC', range: [-1, 1] }, outputs: ['Identity:0'] };
 * toTensor(frame, spec.input);
 * ```
 */
export interface ModelSpec {
  readonly input: TensorSpec & { readonly name: string };
  readonly outputs: readonly string[];
}

/**
 * The bulk-data paths the agent set up for a version-2 app, beside the IPC
 * channel (which then carries only small control messages):
 *
 * - `ring`: a tmpfs file, already open as file descriptor `fd`, with one
 *   slot of `slotBytes` per input and per output at the given byte offsets.
 *   `input.get` replies `{ ring: true, width, height, ... }` once the
 *   agent wrote the frame into the input's slot; the app writes a finished
 *   frame into the output's slot and sends `output.ring`. One frame per
 *   slot at a time: the next `get` (or `put`) starts after the previous one
 *   was read. `output.ring`'s reply says whether anyone wants that output's
 *   pixels now (a viewer, a next node); while nobody does, the app may send
 *   the next frame's `output.ring` with `skipped: true` instead of writing
 *   its pixels, and the agent counts the frame without reading or showing
 *   anything of it.
 * - `models`: per model port, the file descriptor of a socket whose other
 *   end is the model runner itself (binary framing, `@sightline/sdk/wire`).
 *
 * @example
 * ```ts
 * const t: Transport = { ring: { fd: 4, slotBytes: 99532800, inputs: { video_in: 0 }, outputs: { video_out: 99532800 } }, models: { face: 5 } };
 * ```
 */
export interface Transport {
  readonly ring?: {
    readonly fd: number;
    readonly slotBytes: number;
    readonly inputs: Readonly<Record<string, number>>;
    readonly outputs: Readonly<Record<string, number>>;
  };
  readonly models?: Readonly<Record<string, number>>;
}

/**
 * An `input.get` reply whose pixels wait in the input's ring slot.
 *
 * @example
 * ```ts
 * const r: RingFrame = { ring: true, width: 640, height: 480, timestamp: Date.now(), camera: 'door' };
 * ```
 */
export interface RingFrame {
  readonly ring: true;
  readonly width: number;
  readonly height: number;
  readonly timestamp: number;
  readonly camera: string;
}

/**
 * The agent's answer to `hello`.
 *
 * @example
 * ```ts
 * const init: InitInfo = { instance: 'i-1', parameters: { threshold: 0.8 }, models: {} };
 * ```
 */
export interface InitInfo {
  /** Application instance id (for logs); not a secret. */
  readonly instance: string;
  /** Deploy-time parameter overrides; the SDK merges them into the descriptor's defaults and checks them. */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Specs of the models the manifest bound to the app's model nodes. */
  readonly models: Readonly<Record<string, ModelSpec>>;
  /** Version 2: where frames and tensors travel instead of IPC (absent: everything over IPC). */
  readonly transport?: Transport;
}

/**
 * A frame on the wire: pixels only; the SDK draws overlays into them before sending.
 *
 * @example
 * ```ts
 * await channel.putFrame('video_out', { width, height, data, timestamp, camera });
 * ```
 */
export type WireFrame = FrameData;

/**
 * Severity of an app log line.
 *
 * @example
 * ```ts
 * const level: LogLevel = 'warn';
 * ```
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/**
 * Structured fields of a log line: small scalars only.
 *
 * @example
 * ```ts
 * ctx.log.info('frame', { faces: 2, camera: 'door', ok: true });
 * ```
 */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/**
 * Requests from the app; each gets exactly one `reply` with the same `id`.
 *
 * @example
 * ```ts
 * const r: AppRequest = { t: 'input.get', id: 7, input: 'video_in', timeoutMs: 1000 };
 * ```
 */
export type AppRequest =
  | {
      readonly t: 'hello';
      readonly id: number;
      readonly v: number;
      readonly descriptor: { readonly name: string; readonly version: string };
    }
  | { readonly t: 'input.get'; readonly id: number; readonly input: string; readonly timeoutMs: number }
  | { readonly t: 'model.run'; readonly id: number; readonly model: string; readonly input: Float32Array }
  | { readonly t: 'output.put'; readonly id: number; readonly output: string; readonly frame: WireFrame }
  | {
      readonly t: 'output.ring';
      readonly id: number;
      readonly output: string;
      readonly frame: Omit<RingFrame, 'ring'>;
      /** The pixels were not written (the last reply said nobody wants them). */
      readonly skipped?: boolean;
    }
  | { readonly t: 'storage.get'; readonly id: number; readonly key: string }
  | { readonly t: 'storage.set'; readonly id: number; readonly key: string; readonly value: string }
  | { readonly t: 'storage.delete'; readonly id: number; readonly key: string }
  | { readonly t: 'exit'; readonly id: number; readonly ok: boolean; readonly error?: { readonly code: string; readonly message: string } };

/**
 * Notices from the app: no reply.
 *
 * @example
 * ```ts
 * const n: AppNotice = { t: 'metric', name: 'faces', n: 2 };
 * ```
 */
export type AppNotice =
  | { readonly t: 'log'; readonly level: LogLevel; readonly message: string; readonly fields?: LogFields }
  | { readonly t: 'metric'; readonly name: string; readonly n: number };

/**
 * Anything an app sends.
 *
 * @example
 * ```ts
 * const m: AppMessage = { t: 'log', level: 'info', message: 'hi' };
 * ```
 */
export type AppMessage = AppRequest | AppNotice;

/**
 * What each request's reply carries when it succeeds.
 *
 * @example
 * ```ts
 * type Got = ReplyValues['input.get']; // FrameData | null
 * ```
 */
export interface ReplyValues {
  hello: InitInfo;
  'input.get': FrameData | RingFrame | null;
  'model.run': Readonly<Record<string, Float32Array>>;
  'output.put': null;
  /** Whether anyone wants this output's pixels now; null from agents before this field. */
  'output.ring': { readonly wanted: boolean } | null;
  'storage.get': string | null;
  'storage.set': null;
  'storage.delete': null;
  exit: null;
}

/**
 * Messages from the agent.
 *
 * @example
 * ```ts
 * child.send({ t: 'stop' } satisfies AgentMessage);
 * ```
 */
export type AgentMessage =
  | { readonly t: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly t: 'reply'; readonly id: number; readonly ok: false; readonly error: { readonly code: string; readonly message: string } }
  /** Stop: finish the current frame and return from `run`; the agent kills the process after a grace period. */
  | { readonly t: 'stop' };

const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const channelName = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/);
/**
 * A frame from the app: dimensions capped and consistent with the byte count.
 *
 * @example
 * ```ts
 * wireFrameSchema.safeParse({ width: 2, height: 2, data: new Uint8Array(12), timestamp: 0, camera: 'c' }).success; // true
 * ```
 */
export const wireFrameSchema = z
  .object({
    width: z.number().int().min(1).max(MAX_FRAME_WIDTH),
    height: z.number().int().min(1).max(MAX_FRAME_HEIGHT),
    data: z.instanceof(Uint8Array),
    timestamp: z.number().finite(),
    camera: z.string().max(128),
  })
  .strict()
  .refine((f) => f.data.length === f.width * f.height * 3, 'data.length must equal width * height * 3');

const fieldValue = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);

/**
 * Every message an app may send, as the agent checks it.
 *
 * @example
 * ```ts
 * const parsed = appMessageSchema.safeParse(raw);
 * if (!parsed.success) refuse(parsed.error.issues[0]);
 * ```
 */
export const appMessageSchema = z.discriminatedUnion('t', [
  z
    .object({
      t: z.literal('hello'),
      id,
      v: z.number().int(),
      descriptor: z.object({ name: z.string().max(64), version: z.string().max(64) }).strict(),
    })
    .strict(),
  z.object({ t: z.literal('input.get'), id, input: channelName, timeoutMs: z.number().int().min(0).max(LIMITS.maxGetTimeoutMs) }).strict(),
  z
    .object({
      t: z.literal('model.run'),
      id,
      model: channelName,
      input: z.instanceof(Float32Array).refine((a) => a.length <= LIMITS.modelInputFloats, 'input too large'),
    })
    .strict(),
  z.object({ t: z.literal('output.put'), id, output: channelName, frame: wireFrameSchema }).strict(),
  z
    .object({
      t: z.literal('output.ring'),
      id,
      output: channelName,
      frame: z
        .object({
          width: z.number().int().min(1).max(MAX_FRAME_WIDTH),
          height: z.number().int().min(1).max(MAX_FRAME_HEIGHT),
          timestamp: z.number().finite(),
          camera: z.string().max(128),
        })
        .strict(),
      skipped: z.boolean().optional(),
    })
    .strict(),
  z.object({ t: z.literal('storage.get'), id, key: z.string().regex(STORAGE_KEY) }).strict(),
  z
    .object({ t: z.literal('storage.set'), id, key: z.string().regex(STORAGE_KEY), value: z.string().max(LIMITS.storageValueChars) })
    .strict(),
  z.object({ t: z.literal('storage.delete'), id, key: z.string().regex(STORAGE_KEY) }).strict(),
  z
    .object({
      t: z.literal('exit'),
      id,
      ok: z.boolean(),
      error: z
        .object({ code: z.string().max(64), message: z.string().max(4096) })
        .strict()
        .optional(),
    })
    .strict(),
  z
    .object({
      t: z.literal('log'),
      level: z.enum(['debug', 'info', 'warn', 'error']),
      message: z.string().max(LIMITS.logMessageChars),
      fields: z
        .record(z.string().max(64), fieldValue)
        .refine((f) => Object.keys(f).length <= LIMITS.logFields, 'too many fields')
        .optional(),
    })
    .strict(),
  z.object({ t: z.literal('metric'), name: z.string().regex(METRIC_NAME), n: z.number().finite().min(-1e12).max(1e12) }).strict(),
]);
