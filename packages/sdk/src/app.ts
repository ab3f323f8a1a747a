import type { AppChannel } from './channel/channel.js';
import { LIMITS, METRIC_NAME, STORAGE_KEY, type LogFields, type ModelSpec } from './channel/messages.js';
import {
  parseDescriptor,
  resolveParameters,
  type AppDescriptor,
  type DescriptorShape,
  type InputName,
  type ModelName,
  type OutputName,
  type ParameterValues,
} from './descriptor.js';
import { SdkError } from './errors.js';
import { Frame } from './frame.js';
import { renderOverlays } from './image/draw.js';

/**
 * Default wait of `get()`, in milliseconds.
 *
 * @example
 * ```ts
 * await ctx.inputs.video_in.get(); // waits up to DEFAULT_GET_TIMEOUT_MS
 * ```
 */
export const DEFAULT_GET_TIMEOUT_MS = 1000;

/**
 * A camera stream the app reads (Panorama's `inputs.video_in`).
 *
 * @example
 * ```ts
 * const frame = await ctx.inputs.video_in.get({ timeoutMs: 500 });
 * if (frame === null) return; // nothing new within 500 ms, or stopping
 * ```
 */
export interface VideoInput {
  readonly name: string;
  /**
   * The newest frame not yet returned, or null after `timeoutMs` (default
   * 1000) or once the app is stopping. Frames that arrive while the app is
   * busy are dropped by the agent, not queued: `get()` always returns the
   * latest one.
   */
  get(options?: { readonly timeoutMs?: number }): Promise<Frame | null>;
}

/**
 * A video stream the app writes (Panorama's `outputs.video_out`), served by
 * the appliance as authenticated MJPEG.
 *
 * @example
 * ```ts
 * frame.addLabel('people: 2', 8, 8);
 * await ctx.outputs.video_out.put(frame);
 * ```
 */
export interface VideoOutput {
  readonly name: string;
  /**
   * Draws the frame's overlays into its pixels (and clears them), then hands
   * the frame to the agent; resolves when the agent has it. Do not change the
   * frame after `put()`.
   */
  put(frame: Frame): Promise<void>;
}

/**
 * Named float outputs of a model run; check for `undefined` (or use {@link requireOutput}).
 *
 * @example
 * ```ts
 * const out: ModelOutputs = await ctx.models.face.run(data);
 * const scores = out['Identity:0'];
 * if (scores === undefined) throw new Error('no scores');
 * ```
 */
export type ModelOutputs = Readonly<Record<string, Float32Array>>;

/**
 * A model the app calls (Panorama's `call(model)`); inference runs in an
 * agent-owned model runner process, never in the app.
 *
 * @example
 * ```ts
 * const { data } = toTensor(frame, ctx.models.face.input!);
 * const outputs = await ctx.models.face.run(data);
 * const scores = requireOutput(outputs, 'Identity:0');
 * ```
 */
export interface Model {
  readonly name: string;
  /** The model's input spec from its package (shape, layout, range), when the agent sent it. */
  readonly input: ModelSpec['input'] | undefined;
  /** Output names from the model package. */
  readonly outputs: readonly string[];
  /**
   * Runs the model on one input tensor. Rejects with `SdkError('MODEL_BUSY')`
   * when this app already has a request waiting at the model (requests queue
   * at most one deep per app): drop the frame and go on.
   *
   * The input is either the float tensor (`toTensor`) or, 4x smaller and
   * faster, its pixels (`toTensorBytes`: 0..255 in the model's layout and
   * channel order), which the model runner maps to the model's `range`.
   * Do not change the array until the returned promise settles.
   */
  run(input: Float32Array | Uint8Array): Promise<ModelOutputs>;
}

/**
 * Logs that go to the agent, which ships them to the instance's (encrypted)
 * log group. Fields are small scalars; never log secrets or pixels.
 *
 * @example
 * ```ts
 * ctx.log.info('model loaded', { ms: 41 });
 * ctx.log.warn('frame dropped', { reason: 'MODEL_BUSY' });
 * ```
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * A small key-value store kept by the agent, encrypted at rest with the
 * appliance's keys; keys match `[A-Za-z0-9._:/-]{1,256}`, values are strings
 * up to 256 KiB, and the total is bound by the descriptor's `diskMiB`.
 *
 * @example
 * ```ts
 * const seen = Number((await ctx.storage.get('frames_seen')) ?? '0');
 * await ctx.storage.set('frames_seen', String(seen + 1));
 * ```
 */
export interface KeyValueStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/**
 * Counters the agent exports (Prometheus) per app instance.
 *
 * @example
 * ```ts
 * ctx.metrics.count('faces', faces.length);
 * ctx.metrics.count('frames'); // n defaults to 1
 * ```
 */
export interface Metrics {
  count(name: string, n?: number): void;
}

/**
 * Everything an app gets, typed from its descriptor `D`: `ctx.inputs` has
 * exactly the declared inputs, `ctx.parameters.threshold` is a number when its
 * default is a number, and so on.
 *
 * @example
 * ```ts
 * async run(ctx) {
 *   while (!ctx.signal.aborted) {
 *     const frame = await ctx.inputs.video_in.get();
 *     if (frame) await ctx.outputs.video_out.put(frame);
 *   }
 * }
 * ```
 */
export interface AppContext<D extends DescriptorShape> {
  /** Application instance id, for logs. */
  readonly instance: string;
  /** The validated descriptor (defaults filled in). */
  readonly descriptor: AppDescriptor;
  readonly parameters: ParameterValues<D>;
  readonly inputs: { readonly [K in InputName<D>]: VideoInput };
  readonly outputs: { readonly [K in OutputName<D>]: VideoOutput };
  readonly models: { readonly [K in ModelName<D>]: Model };
  readonly log: Logger;
  readonly storage: KeyValueStore;
  readonly metrics: Metrics;
  /** Aborted when the agent asks the app to stop: leave `run` soon after. */
  readonly signal: AbortSignal;
}

/**
 * What {@link defineApp} takes.
 *
 * @example
 * ```ts
 * const definition: AppDefinition<typeof descriptor> = { descriptor, async run(ctx) {} };
 * export default defineApp(definition);
 * ```
 */
export interface AppDefinition<D extends DescriptorShape> {
  /** The code package descriptor, usually `import descriptor from '../descriptor.json' with { type: 'json' }`. */
  readonly descriptor: D;
  /** The app's main loop. Return (or throw) to end the app; the agent restarts it per its policy. */
  run(ctx: AppContext<D>): Promise<void>;
}

/**
 * An app, as {@link defineApp} returns it and runners take it.
 *
 * @example
 * ```ts
 * import app from '../src/app.js';
 * app.validated.resources.memoryMiB; // 256
 * ```
 */
export interface App<D extends DescriptorShape = DescriptorShape> extends AppDefinition<D> {
  readonly kind: 'sightline-app';
  /** The descriptor, checked and with defaults filled in. */
  readonly validated: AppDescriptor;
}

/**
 * Declares an app. The module that calls it exports the result as default;
 * `sightline package build` bundles that module with the SDK's process entry.
 * Throws `SdkError('DESCRIPTOR_INVALID')` when the descriptor is wrong.
 *
 * @example
 * ```ts
 * import { defineApp } from '@sightline/sdk';
 * import descriptor from '../descriptor.json' with { type: 'json' };
 *
 * export default defineApp({
 *   descriptor,
 *   async run(ctx) {
 *     while (!ctx.signal.aborted) {
 *       const frame = await ctx.inputs.video_in.get({ timeoutMs: 1000 });
 *       if (frame === null) continue;
 *       frame.addLabel(`threshold ${ctx.parameters.threshold}`, 8, 8);
 *       await ctx.outputs.video_out.put(frame);
 *     }
 *   },
 * });
 * ```
 */
export function defineApp<D extends DescriptorShape>(definition: AppDefinition<D>): App<D> {
  const validated = parseDescriptor(definition.descriptor);
  return Object.freeze({
    kind: 'sightline-app' as const,
    descriptor: definition.descriptor,
    validated,
    run: definition.run.bind(definition),
  });
}

/**
 * The named output of a model run, or `SdkError('MODEL_FAILED')` when the
 * model did not return it.
 *
 * @example
 * ```ts
 * const scores = requireOutput(await ctx.models.face.run(data), 'Identity:0');
 * ```
 */
export function requireOutput(outputs: ModelOutputs, name: string): Float32Array {
  const v = outputs[name];
  if (v === undefined) throw new SdkError('MODEL_FAILED', `The model returned no output "${name}".`, { details: { output: name } });
  return v;
}

// Keys that generic code (await, JSON, String()) probes on any object.
const PASSTHROUGH: ReadonlySet<string> = new Set(['then', 'toJSON', 'constructor', 'toString', 'valueOf']);

/** A read-only record whose unknown keys throw (a typo in JavaScript apps fails loudly, not with `undefined`). */
function strictRecord<T>(entries: Record<string, T>, code: 'UNKNOWN_INPUT' | 'UNKNOWN_OUTPUT' | 'UNKNOWN_MODEL'): Record<string, T> {
  return new Proxy(Object.freeze(entries), {
    get(target, key, receiver) {
      if (typeof key === 'string' && !Object.hasOwn(target, key) && !PASSTHROUGH.has(key)) {
        throw new SdkError(code, `"${key}" is not declared in the descriptor.`, { details: { name: key } });
      }
      return Reflect.get(target, key, receiver) as T;
    },
  });
}

/**
 * Builds the context of `app` over `channel`: validates the agent's parameter
 * overrides against the descriptor. {@link runApp} and `TestHarness` call it;
 * a custom runner may too.
 *
 * @example
 * ```ts
 * const ctx = createContext(app, channel, await channel.hello(app.validated));
 * await app.run(ctx);
 * ```
 */
export function createContext<D extends DescriptorShape>(
  app: App<D>,
  channel: AppChannel,
  init: { instance: string; parameters: Readonly<Record<string, unknown>>; models: Readonly<Record<string, ModelSpec>> },
): AppContext<D> {
  const d = app.validated;
  const parameters = resolveParameters(d, init.parameters);
  const inputs: Record<string, VideoInput> = {};
  for (const name of Object.keys(d.inputs)) {
    inputs[name] = {
      name,
      async get(options?: { readonly timeoutMs?: number }): Promise<Frame | null> {
        const timeoutMs = Math.max(0, Math.min(LIMITS.maxGetTimeoutMs, Math.round(options?.timeoutMs ?? DEFAULT_GET_TIMEOUT_MS)));
        const f = await channel.getFrame(name, timeoutMs);
        return f === null ? null : f instanceof Frame ? f : new Frame(f);
      },
    };
  }
  const outputs: Record<string, VideoOutput> = {};
  for (const name of Object.keys(d.outputs)) {
    outputs[name] = {
      name,
      async put(frame: Frame): Promise<void> {
        if (!(frame instanceof Frame))
          throw new SdkError('FRAME_INVALID', 'put() takes a Frame (use new Frame({...}) to wrap raw pixels).');
        renderOverlays(frame, frame.overlays);
        frame.overlays.length = 0;
        await channel.putFrame(name, {
          width: frame.width,
          height: frame.height,
          data: frame.data,
          timestamp: frame.timestamp,
          camera: frame.camera,
        });
      },
    };
  }
  const models: Record<string, Model> = {};
  for (const name of Object.keys(d.models)) {
    const spec = init.models[name];
    models[name] = {
      name,
      input: spec?.input,
      outputs: spec?.outputs ?? [],
      run(input: Float32Array | Uint8Array): Promise<ModelOutputs> {
        const ok = input instanceof Float32Array || (input instanceof Uint8Array && !(input instanceof Uint8ClampedArray));
        if (!ok || input.length === 0 || input.length > LIMITS.modelInputFloats) {
          return Promise.reject(new SdkError('MODEL_INPUT_INVALID', 'A model input is a non-empty Float32Array or Uint8Array.'));
        }
        if (input instanceof Float32Array || channel.acceptsPixels?.(name) === true) return channel.runModel(name, input);
        // This channel takes float tensors only: map the pixels to the model's range here.
        const [lo, hi] = spec?.input.range ?? [0, 1];
        const k = (hi - lo) / 255;
        const floats = new Float32Array(input.length);
        for (let i = 0; i < input.length; i++) floats[i] = input[i]! * k + lo;
        return channel.runModel(name, floats);
      },
    };
  }
  const log = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: LogFields) => {
    const text = String(message).slice(0, LIMITS.logMessageChars);
    channel.log(level, text, fields);
  };
  const checkKey = (key: string): void => {
    if (typeof key !== 'string' || !STORAGE_KEY.test(key))
      throw new SdkError('STORAGE_KEY_INVALID', 'A storage key matches [A-Za-z0-9._:/-]{1,256}.', {
        details: { key: String(key).slice(0, 64) },
      });
  };
  const ctx = {
    instance: init.instance,
    descriptor: d,
    parameters,
    inputs: strictRecord(inputs, 'UNKNOWN_INPUT'),
    outputs: strictRecord(outputs, 'UNKNOWN_OUTPUT'),
    models: strictRecord(models, 'UNKNOWN_MODEL'),
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    storage: {
      async get(key: string) {
        checkKey(key);
        return channel.storageGet(key);
      },
      async set(key: string, value: string) {
        checkKey(key);
        if (typeof value !== 'string') throw new SdkError('STORAGE_VALUE_TOO_LARGE', 'A stored value is a string.');
        if (value.length > LIMITS.storageValueChars)
          throw new SdkError('STORAGE_VALUE_TOO_LARGE', `A stored value is at most ${LIMITS.storageValueChars} characters.`);
        return channel.storageSet(key, value);
      },
      async delete(key: string) {
        checkKey(key);
        return channel.storageDelete(key);
      },
    },
    metrics: {
      count(name: string, n = 1) {
        if (!METRIC_NAME.test(name))
          throw new SdkError('METRIC_NAME_INVALID', 'A metric name matches [a-zA-Z_][a-zA-Z0-9_]{0,99}.', {
            details: { name: String(name).slice(0, 64) },
          });
        if (!Number.isFinite(n)) throw new SdkError('METRIC_NAME_INVALID', 'A metric increment is a finite number.');
        channel.metric(name, n);
      },
    },
    signal: channel.stopSignal,
  };
  return ctx as unknown as AppContext<D>;
}

/**
 * Runs `app` over `channel` to the end: hello, context, `run`, exit. Resolves
 * when `run` returns; rejects with what `run` threw (after telling the agent).
 *
 * @example
 * ```ts
 * await runApp(app, new IpcAppChannel(process));
 * ```
 */
export async function runApp<D extends DescriptorShape>(app: App<D>, channel: AppChannel): Promise<void> {
  const init = await channel.hello({ name: app.validated.name, version: app.validated.version });
  let ctx: AppContext<D>;
  try {
    ctx = createContext(app, channel, init);
  } catch (e) {
    await reportExit(channel, e);
    throw e;
  }
  try {
    await app.run(ctx);
  } catch (e) {
    // A stop that surfaces as CHANNEL_CLOSED/STOPPED is a normal end.
    if (channel.stopSignal.aborted && e instanceof SdkError && (e.code === 'STOPPED' || e.code === 'CHANNEL_CLOSED')) {
      await channel.exit(true).catch(() => undefined);
      return;
    }
    await reportExit(channel, e);
    throw e;
  }
  await channel.exit(true).catch(() => undefined);
}

async function reportExit(channel: AppChannel, e: unknown): Promise<void> {
  const code = e instanceof SdkError ? e.code : 'APP_ERROR';
  const message = (e instanceof Error ? e.message : String(e)).slice(0, 4096);
  channel.log('error', `app failed: ${message}`, { code });
  await channel.exit(false, { code, message }).catch(() => undefined);
}
