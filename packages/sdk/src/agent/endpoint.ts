import { isSightlineError } from '@sightline/core';
import { SdkError } from '../errors.js';
import type { FrameData } from '../frame.js';
import {
  LIMITS,
  appMessageSchema,
  type AgentMessage,
  type AppMessage,
  type InitInfo,
  type LogFields,
  type LogLevel,
} from '../channel/messages.js';
import { returnFrame } from './frame-lease.js';
import type { FrameRing } from './frame-ring.js';
import { RING_FD } from './launch.js';

/**
 * What the agent implements for one running app instance; {@link AppEndpoint}
 * calls it for each (validated) message from the app process. Errors thrown
 * with a `code` (SightlineError) reach the app with that code (`MODEL_BUSY`,
 * `UNKNOWN_INPUT`, `STORAGE_QUOTA_EXCEEDED`, ...); any other error reaches it
 * as `PROTOCOL_ERROR` with no detail.
 *
 * @example
 * ```ts
 * const host: AppHost = {
 *   init: () => ({ instance: 'i-1', parameters: overrides, models: { face: runner.spec } }),
 *   getFrame: (input, timeoutMs, signal) => slots.get(input)!.take(timeoutMs, signal),
 *   runModel: (model, t) => runners.get(model)!.run('i-1', t),
 *   // putFrame, storage*, log, metric ...
 * };
 * ```
 */
export interface AppHost {
  /** The app said hello; answer with its instance, parameter overrides and model specs. */
  init(hello: { name: string; version: string }): InitInfo | Promise<InitInfo>;
  /**
   * Latest unread frame of `input` within `timeoutMs` (see FrameSlot); null on timeout or when `signal` aborts (stop).
   * A lent frame (`lendFrame`) is returned by the endpoint once copied into the ring; one sent over IPC is not.
   */
  getFrame(input: string, timeoutMs: number, signal: AbortSignal): Promise<FrameData | null>;
  /** Relay to the model runner (ModelRunnerClient.run with this app's id). */
  runModel(model: string, input: Float32Array): Promise<Readonly<Record<string, Float32Array>>>;
  /** A finished frame (overlays already drawn) for the output's MJPEG stream. */
  putFrame(output: string, frame: FrameData): void | Promise<void>;
  /**
   * Whether anyone would look at a frame of `output` now (a viewer, a next
   * node). False: a frame the app puts through the ring is checked and
   * counted, but its pixels are not read and `putFrame` is not called.
   * Absent: always true.
   */
  wantsOutput?(output: string): boolean;
  storageGet(key: string): Promise<string | null>;
  storageSet(key: string, value: string): Promise<void>;
  storageDelete(key: string): Promise<void>;
  log(level: LogLevel, message: string, fields?: LogFields): void;
  metric(name: string, n: number): void;
  /** The app's `run` ended; the process exits next. */
  exited?(ok: boolean, error?: { code: string; message: string }): void;
  /** A message failed validation (the app is misbehaving or compromised). */
  protocolError?(detail: string): void;
}

/**
 * The agent's handle on an app process: a ChildProcess started with an IPC channel.
 *
 * @example
 * ```ts
 * const child: AppProcess = spawn(command, args, options); // stdio includes 'ipc'
 * ```
 */
export interface AppProcess {
  send(message: unknown, callback: (error: Error | null) => void): boolean;
  readonly connected: boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
}

/**
 * Counters of one endpoint.
 *
 * @example
 * ```ts
 * const { framesIn, framesOut, protocolErrors }: EndpointStats = endpoint.stats;
 * ```
 */
export interface EndpointStats {
  requests: number;
  framesIn: number;
  framesOut: number;
  /** Of `framesOut`: ring frames counted but not read, as nobody wanted them (`AppHost.wantsOutput`). */
  framesUnread: number;
  /** Of `framesUnread`: frames whose pixels the app did not even write (`output.ring` with `skipped`). */
  framesSkipped: number;
  modelRuns: number;
  protocolErrors: number;
}

/**
 * The bulk-data paths of one app process (see `Transport`): its frame ring
 * and the descriptors of its model sockets (`LaunchSpec.modelFds`).
 *
 * @example
 * ```ts
 * new AppEndpoint(child, host, { ring, modelFds: launch.modelFds });
 * ```
 */
export interface EndpointTransport {
  readonly ring?: FrameRing;
  readonly modelFds?: Readonly<Record<string, number>>;
}

/**
 * The agent's side of the app channel: validates each message the app sends
 * (untrusted input: schema with size caps, at most 16 requests in flight),
 * calls the {@link AppHost}, and replies.
 *
 * @example
 * ```ts
 * const { command, args, options } = appLaunchSpec({ ... });
 * const child = spawn(command, args, options);
 * const endpoint = new AppEndpoint(child, host);
 * // later
 * endpoint.stop(); // app returns from run; kill after a grace period
 * ```
 */
export class AppEndpoint {
  readonly stats: EndpointStats = {
    requests: 0,
    framesIn: 0,
    framesOut: 0,
    framesUnread: 0,
    framesSkipped: 0,
    modelRuns: 0,
    protocolErrors: 0,
  };
  private inFlight = 0;
  private greeted = false;
  /** The app speaks version 2: frames through the ring. */
  private v2 = false;
  private readonly stopper = new AbortController();
  private readonly onMessage = (m: unknown): void => void this.handle(m);
  private readonly onDisconnect = (): void => this.close();

  constructor(
    private readonly child: AppProcess,
    private readonly host: AppHost,
    private readonly transport: EndpointTransport = {},
  ) {
    child.on('message', this.onMessage);
    child.on('disconnect', this.onDisconnect);
  }

  /** Asks the app to stop: pending `get()`s return null and `ctx.signal` aborts in the app. */
  stop(): void {
    this.stopper.abort();
    this.send({ t: 'stop' });
  }

  /** Stops listening (the process is gone or being killed). */
  close(): void {
    this.stopper.abort();
    this.child.off('message', this.onMessage);
    this.child.off('disconnect', this.onDisconnect);
  }

  private send(message: AgentMessage): void {
    if (!this.child.connected) return;
    this.child.send(message, () => undefined);
  }

  private refuse(detail: string, id?: number): void {
    this.stats.protocolErrors++;
    this.host.protocolError?.(detail);
    if (id !== undefined) this.send({ t: 'reply', id, ok: false, error: { code: 'PROTOCOL_ERROR', message: detail } });
  }

  private async handle(raw: unknown): Promise<void> {
    const parsed = appMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const id =
        typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'number'
          ? (raw as { id: number }).id
          : undefined;
      const issue = parsed.error.issues[0];
      this.refuse(`invalid message at ${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`, id);
      return;
    }
    const m = parsed.data as AppMessage;
    if (m.t === 'log') {
      this.host.log(m.level, m.message, m.fields);
      return;
    }
    if (m.t === 'metric') {
      this.host.metric(m.name, m.n);
      return;
    }
    if (!this.greeted && m.t !== 'hello') {
      this.refuse(`${m.t} before hello`, m.id);
      return;
    }
    if (this.inFlight >= LIMITS.pendingRequests) {
      this.refuse(`more than ${LIMITS.pendingRequests} requests in flight`, m.id);
      return;
    }
    this.stats.requests++;
    this.inFlight++;
    try {
      const value = await this.dispatch(m);
      this.send({ t: 'reply', id: m.id, ok: true, value });
    } catch (e) {
      const error = isSightlineError(e)
        ? { code: e.code, message: e.message }
        : { code: 'PROTOCOL_ERROR', message: 'The agent could not serve the request.' };
      this.send({ t: 'reply', id: m.id, ok: false, error });
    } finally {
      this.inFlight--;
    }
  }

  private async dispatch(m: Exclude<AppMessage, { t: 'log' } | { t: 'metric' }>): Promise<unknown> {
    switch (m.t) {
      case 'hello': {
        const init = await this.host.init(m.descriptor);
        this.greeted = true;
        this.v2 = m.v >= 2;
        const { ring, modelFds } = this.transport;
        if (!this.v2 || (ring === undefined && modelFds === undefined)) return init;
        const models = Object.fromEntries(Object.entries(modelFds ?? {}).filter(([port]) => Object.hasOwn(init.models, port)));
        return { ...init, transport: { ...(ring === undefined ? {} : { ring: ring.layout(RING_FD) }), models } };
      }
      case 'input.get': {
        const f = await this.host.getFrame(m.input, m.timeoutMs, this.stopper.signal);
        if (f === null) return null;
        this.stats.framesIn++;
        const ring = this.transport.ring;
        if (this.v2 && ring !== undefined && ring.fits(f.width, f.height)) {
          try {
            ring.write(m.input, f);
          } finally {
            // Copied into the ring (a synchronous pwrite) or failed: either way its pixels are not read again here.
            returnFrame(f);
          }
          return { ring: true, width: f.width, height: f.height, timestamp: f.timestamp, camera: f.camera };
        }
        // Over IPC the reply carries the pixels: a lent frame is kept (left to the garbage collector), not returned.
        return { width: f.width, height: f.height, data: f.data, timestamp: f.timestamp, camera: f.camera };
      }
      case 'output.ring': {
        const ring = this.transport.ring;
        if (ring === undefined) throw new SdkError('PROTOCOL_ERROR', 'This app has no frame ring.');
        const wanted = this.host.wantsOutput?.(m.output) !== false;
        if (m.skipped === true) {
          // The app wrote nothing (nobody wanted the last frame): counted, never read or shown, even if a viewer came meanwhile.
          ring.outputSlot(m.output, m.frame.width, m.frame.height);
          this.stats.framesOut++;
          this.stats.framesUnread++;
          this.stats.framesSkipped++;
          return { wanted };
        }
        if (!wanted) {
          // Nobody watches: the same checks as a read, but 0.9 MB per frame neither copied nor allocated.
          ring.check(m.output, m.frame.width, m.frame.height);
          this.stats.framesOut++;
          this.stats.framesUnread++;
          return { wanted };
        }
        const data = ring.read(m.output, m.frame.width, m.frame.height);
        this.stats.framesOut++;
        await this.host.putFrame(m.output, { ...m.frame, data });
        return { wanted: this.host.wantsOutput?.(m.output) !== false };
      }
      case 'model.run':
        this.stats.modelRuns++;
        return this.host.runModel(m.model, m.input);
      case 'output.put':
        this.stats.framesOut++;
        await this.host.putFrame(m.output, m.frame);
        return null;
      case 'storage.get':
        return this.host.storageGet(m.key);
      case 'storage.set':
        await this.host.storageSet(m.key, m.value);
        return null;
      case 'storage.delete':
        await this.host.storageDelete(m.key);
        return null;
      case 'exit':
        this.host.exited?.(m.ok, m.error);
        return null;
    }
  }
}
