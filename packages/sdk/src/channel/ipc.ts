import { readSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
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
  type Transport,
  type WireFrame,
} from './messages.js';
import { WIRE_MAX_REPLY_BYTES, WIRE_STATUS_OK, WireReader, decodeOutputs, encodeRequest } from './model-wire.js';

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

/** A plain Uint8Array (not a Buffer: its slice() copies) without the zero fill; every byte is then read into. */
export function uninitialised(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** How long metric increments gather before they go to the agent. */
const METRIC_FLUSH_MS = 250;

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
  private ring: NonNullable<Transport['ring']> | undefined;
  private readonly modelSockets = new Map<string, ModelSocket>();
  private readonly modelRanges = new Map<string, readonly [number, number]>();
  /** Metric increments not yet sent: sent together every {@link METRIC_FLUSH_MS} (not one IPC message per count). */
  private readonly metricBatch = new Map<string, number>();
  private metricTimer: NodeJS.Timeout | undefined;
  /** Per output: the previous put, so a slot is not overwritten while the agent reads it. */
  private readonly putting = new Map<string, Promise<void>>();
  /** Per output: the agent's last word on whether anyone wants its pixels (absent: yes). */
  private readonly unwanted = new Set<string>();

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

  async hello(descriptor: { name: string; version: string }): Promise<InitInfo> {
    const init = await this.call('hello', { v: PROTOCOL_VERSION, descriptor });
    for (const [name, spec] of Object.entries(init.models ?? {})) this.modelRanges.set(name, spec.input?.range ?? [0, 1]);
    const t = init.transport;
    if (t?.ring !== undefined && Number.isInteger(t.ring.fd) && t.ring.fd > 2) this.ring = t.ring;
    for (const [name, fd] of Object.entries(t?.models ?? {})) {
      const spec = init.models[name];
      if (spec === undefined || !Number.isInteger(fd) || fd <= 2) continue;
      this.modelSockets.set(name, new ModelSocket(fd, spec.outputs));
    }
    return init;
  }

  async getFrame(input: string, timeoutMs: number): Promise<FrameData | null> {
    if (this.stopper.signal.aborted) return null;
    const f = await this.call('input.get', { input, timeoutMs });
    if (f === null || !('ring' in f)) return f;
    const off = this.ring?.inputs[input];
    if (this.ring === undefined || off === undefined) throw new SdkError('PROTOCOL_ERROR', 'The agent sent a ring frame without a ring.');
    const data = uninitialised(f.width * f.height * 3);
    let done = 0;
    while (done < data.length) {
      const n = readSync(this.ring.fd, data, done, data.length - done, off + done);
      if (n === 0) throw new SdkError('PROTOCOL_ERROR', 'The ring slot is shorter than the frame.');
      done += n;
    }
    return { width: f.width, height: f.height, data, timestamp: f.timestamp, camera: f.camera };
  }

  acceptsPixels(model: string): boolean {
    return this.modelSockets.has(model);
  }

  runModel(model: string, input: Float32Array | Uint8Array): Promise<Readonly<Record<string, Float32Array>>> {
    const direct = this.modelSockets.get(model);
    if (direct !== undefined) return direct.run(input);
    if (input instanceof Float32Array) return this.call('model.run', { model, input });
    // Version 1 agents take float tensors only: map the pixels to the model's range here.
    const [lo, hi] = this.modelRanges.get(model) ?? [0, 1];
    const k = (hi - lo) / 255;
    const floats = new Float32Array(input.length);
    for (let i = 0; i < input.length; i++) floats[i] = input[i]! * k + lo;
    return this.call('model.run', { model, input: floats });
  }

  async putFrame(output: string, frame: WireFrame): Promise<void> {
    const off = this.ring?.outputs[output];
    if (this.ring === undefined || off === undefined || frame.data.byteLength > this.ring.slotBytes) {
      await this.call('output.put', { output, frame });
      return;
    }
    const ring = this.ring;
    const previous = this.putting.get(output) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        // Nobody wanted the last frame's pixels (no viewer, no next node): this one's are not written either.
        const skipped = this.unwanted.has(output);
        if (!skipped) {
          let done = 0;
          const n = frame.data.byteLength;
          while (done < n) done += writeSync(ring.fd, frame.data, done, n - done, off + done);
        }
        const meta = { width: frame.width, height: frame.height, timestamp: frame.timestamp, camera: frame.camera };
        const reply = await this.call('output.ring', skipped ? { output, frame: meta, skipped } : { output, frame: meta });
        if (isRecord(reply) && reply.wanted === false) this.unwanted.add(output);
        else this.unwanted.delete(output);
      });
    this.putting.set(output, next);
    await next;
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
    if (this.closed) return;
    const sum = (this.metricBatch.get(name) ?? 0) + n;
    this.metricBatch.set(name, sum);
    if (Math.abs(sum) > 1e11) this.flushMetrics();
    else if (this.metricTimer === undefined) {
      this.metricTimer = setTimeout(() => this.flushMetrics(), METRIC_FLUSH_MS);
      this.metricTimer.unref();
    }
  }

  private flushMetrics(): void {
    clearTimeout(this.metricTimer);
    this.metricTimer = undefined;
    for (const [name, n] of this.metricBatch) this.notify({ t: 'metric', name, n });
    this.metricBatch.clear();
  }

  async exit(ok: boolean, error?: { code: string; message: string }): Promise<void> {
    if (this.closed) return;
    this.flushMetrics();
    await this.call('exit', error === undefined ? { ok } : { ok, error });
  }

  close(): void {
    if (this.closed) return;
    this.flushMetrics();
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
    clearTimeout(this.metricTimer);
    this.port.off('message', this.onMessage);
    this.port.off('disconnect', this.onDisconnect);
    if (!this.stopper.signal.aborted) this.stopper.abort(reason);
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    for (const m of this.modelSockets.values()) m.close(reason);
  }
}

/**
 * The app's end of its direct socket to a model runner (see model-wire.ts):
 * one request at a time is what the runner serves; more are answered
 * MODEL_BUSY by the runner itself.
 */
class ModelSocket {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: SdkError | undefined;

  constructor(
    fd: number,
    private readonly outputs: readonly string[],
  ) {
    this.socket = new Socket({ fd, readable: true, writable: true });
    // The socket must not keep the app alive on its own: the IPC channel decides when the app ends.
    this.socket.unref();
    const reader = new WireReader(
      WIRE_MAX_REPLY_BYTES,
      (h, body) => {
        const p = this.pending.get(h.id);
        if (p === undefined) return;
        this.pending.delete(h.id);
        if (h.kind === WIRE_STATUS_OK) {
          try {
            const list = decodeOutputs(body, h.count);
            const out: Record<string, Float32Array> = {};
            this.outputs.forEach((name, i) => {
              if (list[i] !== undefined) out[name] = list[i];
            });
            p.resolve(out);
          } catch {
            p.reject(new SdkError('MODEL_FAILED', 'The model runner sent a malformed reply.'));
          }
          return;
        }
        let e: { code?: unknown; message?: unknown } = {};
        try {
          e = JSON.parse(Buffer.from(body).toString('utf8')) as typeof e;
        } catch {
          // keep the defaults
        }
        const code = typeof e.code === 'string' && isSdkErrorCode(e.code) ? e.code : 'MODEL_FAILED';
        p.reject(new SdkError(code, typeof e.message === 'string' ? e.message : 'The model runner refused the request.'));
      },
      () => this.close(new SdkError('MODEL_UNAVAILABLE', 'The model runner broke the channel.')),
    );
    this.socket.on('data', (c: Buffer) => reader.push(c));
    this.socket.on('error', () => this.close(new SdkError('MODEL_UNAVAILABLE', 'The channel to the model runner failed.')));
    this.socket.on('close', () => this.close(new SdkError('MODEL_UNAVAILABLE', 'The channel to the model runner closed.')));
  }

  run(input: Float32Array | Uint8Array): Promise<Readonly<Record<string, Float32Array>>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.ref();
      const [head, body] = encodeRequest(id, input);
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(body);
      this.socket.uncork();
    }).finally(() => {
      if (this.pending.size === 0) this.socket.unref();
    }) as Promise<Readonly<Record<string, Float32Array>>>;
  }

  close(reason: SdkError): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    this.socket.destroy();
  }
}
