import type { FrameData } from '../frame.js';
import type { InitInfo, LogFields, LogLevel, WireFrame } from './messages.js';

/**
 * How an app talks to whatever runs it: the agent (over Node IPC,
 * {@link IpcAppChannel}) or a test (in process, `TestHarness`). The context an
 * app sees (`ctx.inputs`, `ctx.models`, ...) is built on this and nothing
 * else, so another transport (a socket, shared memory) only has to implement
 * it.
 *
 * @example
 * ```ts
 * class MyChannel implements AppChannel { ... }
 * await runApp(app, new MyChannel());
 * ```
 */
export interface AppChannel {
  /** First call: says which app this is and gets the instance, parameter overrides and model specs. */
  hello(descriptor: { name: string; version: string }): Promise<InitInfo>;
  /** The next frame of `input` newer than the last one returned, or null after `timeoutMs` or when stopping. */
  getFrame(input: string, timeoutMs: number): Promise<FrameData | null>;
  /**
   * Runs model `model` on `input`; rejects with `MODEL_BUSY` when the model runner dropped the request.
   * A Uint8Array (pixels, see `toTensorBytes`) only where {@link AppChannel.acceptsPixels} says so.
   */
  runModel(model: string, input: Float32Array | Uint8Array): Promise<Readonly<Record<string, Float32Array>>>;
  /** Whether `runModel(model, ...)` takes uint8 pixels (the runner maps them to the model's range); absent: no. */
  acceptsPixels?(model: string): boolean;
  /** Hands a finished frame to output `output`; resolves when the agent took it. */
  putFrame(output: string, frame: WireFrame): Promise<void>;
  storageGet(key: string): Promise<string | null>;
  storageSet(key: string, value: string): Promise<void>;
  storageDelete(key: string): Promise<void>;
  log(level: LogLevel, message: string, fields?: LogFields): void;
  metric(name: string, n: number): void;
  /** Last call: the app's `run` returned (`ok`) or threw. Resolves once everything sent before it was received. */
  exit(ok: boolean, error?: { code: string; message: string }): Promise<void>;
  /** Aborted when the agent asks the app to stop or the channel closes. */
  readonly stopSignal: AbortSignal;
  /** Releases the transport (lets the process exit). */
  close(): void;
}
