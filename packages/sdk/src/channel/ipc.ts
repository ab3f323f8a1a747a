import { SdkError, isSdkErrorCode } from '../errors.js';
import type { FrameData } from '../frame.js';
import type { AppChannel } from './channel.js';
import {
  PROTOCOL_VERSION,
  type AppNotice,
  type AppRequest,
  type InitInfo,
  type LogFields,
  type LogLevel,
  type ReplyValues,
  type WireFrame,
} from './messages.js';

/**
 * The part of `process` (a child started with an IPC channel) that
 * {@link IpcAppChannel} uses; a fake in tests.
 *
 * @example
 * ```ts
 * const port: IpcPort = process; // in an app process started with an IPC channel
 * ```
 */
export interface IpcPort {
  send?: (message: unknown, sendHandle?: undefined, options?: undefined, callback?: (error: Error | null) => void) => boolean;
  readonly connected?: boolean;
  disconnect?: () => void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
}

type RequestBody<K extends AppRequest['t']> = Omit<Extract<AppRequest, { t: K }>, 't' | 'id'>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/**
 * {@link AppChannel} over the IPC channel Node gives a child process
 * (`process.send` / `'message'`). Works under the permission model without
 * `--allow-child-process`: the channel is inherited, not opened. The agent
 * must start the app with `serialization: 'advanced'` so frames travel as
 * bytes.
 *
 * Measured here (2 cores, Node 20, busy machine): a 768x576 RGB24 frame costs
 * about 5 ms per hop (~10 ms agent → app → agent); see packages/sdk/README.md.
 *
 * @example
 * ```ts
 * // What runAppProcess() does:
 * const channel = new IpcAppChannel(process);
 * await runApp(app, channel);
 * ```
 */
export class IpcAppChannel implements AppChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly stopper = new AbortController();
  private closed = false;
  private readonly onMessage = (m: unknown): void => this.receive(m);
  private readonly onDisconnect = (): void => this.shutdown(new SdkError('CHANNEL_CLOSED', 'The agent closed the channel.'));

  constructor(private readonly port: IpcPort = process) {
    if (typeof port.send !== 'function') {
      throw new SdkError(
        'CHANNEL_CLOSED',
        'This process has no IPC channel: apps are started by the Sightline agent. In tests, use TestHarness from @sightline/sdk/testing.',
      );
    }
    port.on('message', this.onMessage);
    port.on('disconnect', this.onDisconnect);
  }

  get stopSignal(): AbortSignal {
    return this.stopper.signal;
  }

  hello(descriptor: { name: string; version: string }): Promise<InitInfo> {
    return this.call('hello', { v: PROTOCOL_VERSION, descriptor });
  }

  getFrame(input: string, timeoutMs: number): Promise<FrameData | null> {
    if (this.stopper.signal.aborted) return Promise.resolve(null);
    return this.call('input.get', { input, timeoutMs });
  }

  runModel(model: string, input: Float32Array): Promise<Readonly<Record<string, Float32Array>>> {
    return this.call('model.run', { model, input });
  }

  async putFrame(output: string, frame: WireFrame): Promise<void> {
    await this.call('output.put', { output, frame });
  }

  storageGet(key: string): Promise<string | null> {
    return this.call('storage.get', { key });
  }

  async storageSet(key: string, value: string): Promise<void> {
    await this.call('storage.set', { key, value });
  }

  async storageDelete(key: string): Promise<void> {
    await this.call('storage.delete', { key });
  }

  log(level: LogLevel, message: string, fields?: LogFields): void {
    this.notify(fields === undefined ? { t: 'log', level, message } : { t: 'log', level, message, fields });
  }

  metric(name: string, n: number): void {
    this.notify({ t: 'metric', name, n });
  }

  async exit(ok: boolean, error?: { code: string; message: string }): Promise<void> {
    if (this.closed) return;
    await this.call('exit', error === undefined ? { ok } : { ok, error });
  }

  close(): void {
    if (this.closed) return;
    this.shutdown(new SdkError('CHANNEL_CLOSED', 'The channel was closed.'));
    // Disconnecting inside a 'message' callback trips a Node 20 bug; do it on a clean stack.
    setImmediate(() => {
      if (this.port.connected === true) this.port.disconnect?.();
    });
  }

  private call<K extends AppRequest['t']>(t: K, body: RequestBody<K>): Promise<ReplyValues[K]> {
    if (this.closed) return Promise.reject(new SdkError('CHANNEL_CLOSED', 'The channel to the agent is closed.'));
    const id = this.nextId++;
    return new Promise<ReplyValues[K]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.send!({ ...body, t, id }, undefined, undefined, (error) => {
        if (error === null) return;
        this.pending.delete(id);
        reject(new SdkError('CHANNEL_CLOSED', 'Could not send to the agent.', { cause: error }));
      });
    });
  }

  private notify(message: AppNotice): void {
    if (this.closed || this.port.connected === false) return; // logs and metrics after close have nowhere to go
    this.port.send!(message, undefined, undefined, () => undefined);
  }

  private receive(m: unknown): void {
    if (!isRecord(m)) return;
    if (m.t === 'stop') {
      this.stopper.abort(new SdkError('STOPPED', 'The agent asked the app to stop.'));
      return;
    }
    if (m.t !== 'reply' || typeof m.id !== 'number') return;
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (m.ok === true) {
      p.resolve(m.value);
      return;
    }
    const e = isRecord(m.error) ? m.error : {};
    const code = typeof e.code === 'string' && isSdkErrorCode(e.code) ? e.code : 'PROTOCOL_ERROR';
    const message = typeof e.message === 'string' ? e.message : 'The agent refused the request.';
    p.reject(new SdkError(code, message, { details: { remoteCode: e.code } }));
  }

  private shutdown(reason: SdkError): void {
    if (this.closed) return;
    this.closed = true;
    this.port.off('message', this.onMessage);
    this.port.off('disconnect', this.onDisconnect);
    if (!this.stopper.signal.aborted) this.stopper.abort(reason);
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
  }
}
