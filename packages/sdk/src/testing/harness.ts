import { createContext, type App, type ModelOutputs } from '../app.js';
import type { AppChannel } from '../channel/channel.js';
import type { InitInfo, LogFields, LogLevel, ModelSpec, WireFrame } from '../channel/messages.js';
import type { DescriptorShape, InputName, ModelName, OutputName, ParameterValues } from '../descriptor.js';
import { SdkError } from '../errors.js';
import { Frame, type FrameData } from '../frame.js';

/**
 * A model stand-in: a function, or a function with the spec the agent would send.
 *
 * @example
 * ```ts
 * const fake: HarnessModel = () => ({ 'Identity:0': new Float32Array(512) });
 * const real: HarnessModel = { run: (t) => runner.run('test', t), spec: runner.spec };
 * ```
 */
export type HarnessModel =
  | ((input: Float32Array) => ModelOutputs | Promise<ModelOutputs>)
  | { readonly run: (input: Float32Array) => ModelOutputs | Promise<ModelOutputs>; readonly spec?: ModelSpec };

/**
 * Options of {@link TestHarness}.
 *
 * @example
 * ```ts
 * new TestHarness(app, { parameters: { threshold: 0.9 }, models: { face: fake }, stopWhenDrained: true });
 * ```
 */
export interface HarnessOptions<D extends DescriptorShape> {
  /** Deploy-time overrides, checked as the agent's would be (type, `overridable`, range). */
  readonly parameters?: { readonly [K in keyof ParameterValues<D>]?: ParameterValues<D>[K] };
  /** One stand-in per model node. */
  readonly models?: { readonly [K in ModelName<D>]?: HarnessModel };
  readonly instance?: string;
  /**
   * Stop the app (abort `ctx.signal`, `get()` returns null) once every fed
   * frame has been read and the app asks for another. Default true; set false
   * to feed frames while the app runs and call {@link TestHarness.stop}.
   */
  readonly stopWhenDrained?: boolean;
  /** Largest total of stored values, in characters, before `STORAGE_QUOTA_EXCEEDED`. Default 1 MiB. */
  readonly storageQuota?: number;
}

/**
 * One log line an app wrote.
 *
 * @example
 * ```ts
 * assert.deepEqual(h.logs[0], { level: 'info', message: 'started', fields: undefined });
 * ```
 */
export interface HarnessLog {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields | undefined;
}

class InProcessChannel implements AppChannel {
  readonly queues = new Map<string, FrameData[]>();
  readonly waiters = new Map<string, (f: FrameData | null) => void>();
  readonly outputs = new Map<string, Frame[]>();
  readonly logs: HarnessLog[] = [];
  readonly metrics = new Map<string, number>();
  readonly storage = new Map<string, string>();
  modelCalls = 0;
  exitState: { ok: boolean; error?: { code: string; message: string } } | undefined;
  readonly stopper = new AbortController();

  constructor(
    private readonly init: InitInfo,
    private readonly models: Readonly<Record<string, HarnessModel | undefined>>,
    private readonly stopWhenDrained: boolean,
    private readonly storageQuota: number,
  ) {}

  get stopSignal(): AbortSignal {
    return this.stopper.signal;
  }

  hello(): Promise<InitInfo> {
    return Promise.resolve(this.init);
  }

  private drained(): boolean {
    for (const q of this.queues.values()) if (q.length > 0) return false;
    return true;
  }

  getFrame(input: string, timeoutMs: number): Promise<FrameData | null> {
    const q = this.queues.get(input);
    const next = q?.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.stopWhenDrained && this.drained()) this.stopper.abort(new SdkError('STOPPED', 'All fed frames were read.'));
    if (this.stopper.signal.aborted || timeoutMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = (f: FrameData | null): void => {
        clearTimeout(timer);
        this.stopper.signal.removeEventListener('abort', onAbort);
        this.waiters.delete(input);
        resolve(f);
      };
      const onAbort = (): void => done(null);
      const timer = setTimeout(() => done(null), timeoutMs);
      this.stopper.signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(input, done);
    });
  }

  push(input: string, frame: FrameData): void {
    const w = this.waiters.get(input);
    if (w !== undefined) return w(frame);
    const q = this.queues.get(input) ?? [];
    q.push(frame);
    this.queues.set(input, q);
  }

  async runModel(model: string, input: Float32Array): Promise<ModelOutputs> {
    const m = this.models[model];
    if (m === undefined) throw new SdkError('UNKNOWN_MODEL', `No stand-in for model "${model}": pass options.models.${model}.`);
    this.modelCalls++;
    return typeof m === 'function' ? m(input) : m.run(input);
  }

  putFrame(output: string, frame: WireFrame): Promise<void> {
    const list = this.outputs.get(output) ?? [];
    list.push(new Frame({ ...frame, data: frame.data.slice() }));
    this.outputs.set(output, list);
    return Promise.resolve();
  }

  storageGet(key: string): Promise<string | null> {
    return Promise.resolve(this.storage.get(key) ?? null);
  }

  storageSet(key: string, value: string): Promise<void> {
    let total = value.length;
    for (const [k, v] of this.storage) if (k !== key) total += v.length;
    if (total > this.storageQuota) return Promise.reject(new SdkError('STORAGE_QUOTA_EXCEEDED', 'The app storage quota is full.'));
    this.storage.set(key, value);
    return Promise.resolve();
  }

  storageDelete(key: string): Promise<void> {
    this.storage.delete(key);
    return Promise.resolve();
  }

  log(level: LogLevel, message: string, fields?: LogFields): void {
    this.logs.push({ level, message, fields });
  }

  metric(name: string, n: number): void {
    this.metrics.set(name, (this.metrics.get(name) ?? 0) + n);
  }

  exit(ok: boolean, error?: { code: string; message: string }): Promise<void> {
    this.exitState = error === undefined ? { ok } : { ok, error };
    return Promise.resolve();
  }

  close(): void {
    if (!this.stopper.signal.aborted) this.stopper.abort(new SdkError('CHANNEL_CLOSED', 'The harness closed.'));
  }
}

/**
 * Runs an app in the test's own process, with no agent: feed frames, give
 * model stand-ins (a function, or a real model runner), then read what the
 * app put out, logged, counted and stored. Parameter overrides are checked
 * exactly as on an appliance.
 *
 * @example
 * ```ts
 * import { TestHarness, readImageFrame } from '@sightline/sdk/testing';
 * import app from '../src/app.js';
 *
 * const h = new TestHarness(app, {
 *   parameters: { threshold: 0.8 },
 *   models: { face: (input) => fakeFaceOutputs(input) },
 * });
 * h.feed('video_in', await readImageFrame('test/fixtures/street.png'));
 * await h.run();
 * assert.equal(h.outputs('video_out').length, 1);
 * assert.equal(h.metric('faces'), 2);
 * ```
 */
export class TestHarness<D extends DescriptorShape> {
  private readonly channel: InProcessChannel;

  constructor(
    private readonly app: App<D>,
    options: NoInfer<HarnessOptions<D>> = {},
  ) {
    const models: Record<string, HarnessModel | undefined> = {
      ...(options.models as Record<string, HarnessModel | undefined> | undefined),
    };
    const specs: Record<string, ModelSpec> = {};
    for (const [name, m] of Object.entries(models))
      if (m !== undefined && typeof m !== 'function' && m.spec !== undefined) specs[name] = m.spec;
    const init: InitInfo = {
      instance: options.instance ?? 'test-instance',
      parameters: { ...(options.parameters as Record<string, unknown> | undefined) },
      models: specs,
    };
    this.channel = new InProcessChannel(init, models, options.stopWhenDrained ?? true, options.storageQuota ?? 1024 * 1024);
  }

  /**
   * Queues frames for input `input` (copied, so the originals stay as they
   * were). The harness hands them out in order and drops none.
   *
   * @example
   * ```ts
   * h.feed('video_in', Frame.blank(320, 240)).feed('video_in', [f1, f2]);
   * ```
   */
  feed(input: InputName<D>, frames: FrameData | readonly FrameData[]): this {
    if (!Object.hasOwn(this.app.validated.inputs, input))
      throw new SdkError('UNKNOWN_INPUT', `"${input}" is not declared in the descriptor.`);
    const list: readonly FrameData[] = Array.isArray(frames) ? (frames as readonly FrameData[]) : [frames as FrameData];
    for (const f of list)
      this.channel.push(
        input,
        new Frame({ width: f.width, height: f.height, data: f.data.slice(), timestamp: f.timestamp, camera: f.camera }),
      );
    return this;
  }

  /**
   * Runs the app until `run` returns (by default once every fed frame was
   * read). Rejects with what the app threw, or `CHANNEL_TIMEOUT` after
   * `timeoutMs` (default 30 s).
   *
   * @example
   * ```ts
   * await h.run({ timeoutMs: 5000 });
   * ```
   */
  async run(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const ctx = createContext(this.app, this.channel, await this.channel.hello());
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.stop();
        reject(new SdkError('CHANNEL_TIMEOUT', `The app did not return within ${timeoutMs} ms.`));
      }, timeoutMs);
    });
    try {
      await Promise.race([this.app.run(ctx), timeout]);
      await this.channel.exit(true);
    } catch (e) {
      await this.channel.exit(false, {
        code: e instanceof SdkError ? e.code : 'APP_ERROR',
        message: e instanceof Error ? e.message : String(e),
      });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Asks the app to stop, as the agent's `stop` would. */
  stop(): void {
    this.channel.close();
  }

  /** Frames the app put to `output`, in order (copies, overlays drawn). */
  outputs(output: OutputName<D>): Frame[] {
    return this.channel.outputs.get(output) ?? [];
  }

  /** The total the app counted for metric `name` (0 if never counted). */
  metric(name: string): number {
    return this.channel.metrics.get(name) ?? 0;
  }

  /** Every metric the app counted. */
  get metrics(): ReadonlyMap<string, number> {
    return this.channel.metrics;
  }

  /** Log lines, in order. */
  get logs(): readonly HarnessLog[] {
    return this.channel.logs;
  }

  /** The app's key-value storage (read or seed it). */
  get storage(): Map<string, string> {
    return this.channel.storage;
  }

  /** How many model calls reached a stand-in. */
  get modelCalls(): number {
    return this.channel.modelCalls;
  }
}
