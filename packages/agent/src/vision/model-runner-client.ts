import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VisionError, type VisionErrorCode } from './errors.js';
import { inputLength, ioSpec, loadModelPackage, type ModelIoSpec, type ModelPackage } from './model-package.js';
import type { RunnerReply, RunnerRequest } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Options of {@link ModelRunnerClient.start}. */
export interface ModelRunnerOptions {
  /** A checked model package (loadModelPackage), or its folder. */
  readonly pkg: ModelPackage | string;
  /** Intra-op threads of onnxruntime; default 1. */
  readonly threads?: number;
  /** Longest a single inference may take before the runner is killed; default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Longest the model may take to load; default 60 s. */
  readonly startTimeoutMs?: number;
  /** The runner's entry; default model-runner.ts (or .js) beside this file. */
  readonly entry?: string;
  /** Lines the runner writes to stdout/stderr (onnxruntime's own messages). */
  readonly onOutput?: (line: string) => void;
  /** Called once when the runner process ends, expectedly or not. */
  readonly onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/** Counters of one model runner. */
export interface ModelRunnerStats {
  /** Requests answered with outputs. */
  runs: number;
  /** Requests refused because the app already had one waiting (MODEL_BUSY). */
  drops: number;
  errors: number;
  /** Direct channels closed because the app broke the framing (oversized or garbled messages). */
  refused: number;
  /** Mean inference time inside the runner, ms. */
  meanMs: number;
  byApp: Record<string, { runs: number; drops: number }>;
}

interface Request {
  readonly id: number;
  readonly app: string;
  readonly input: Float32Array;
  resolve(outputs: Record<string, Float32Array>): void;
  reject(e: unknown): void;
}

/**
 * The agent's handle on one model runner process. Apps reach it through the
 * SDK (`ctx.models.<name>.run()` → AppEndpoint → AppHost.runModel → here).
 *
 * Scheduling: one inference at a time in the runner; requests from different
 * apps wait their turn in arrival order; each app may have at most one
 * request waiting or running, so a frame that arrives while that app's
 * previous one is still at the model is dropped (MODEL_BUSY, counted), never
 * queued behind it.
 *
 * @example
 * ```ts
 * const face = await ModelRunnerClient.start({ pkg: '/var/lib/sightline/models/blazeface-back-256' });
 * const outputs = await face.run('instance-1', tensor); // { 'Identity:0': Float32Array, ... }
 * face.stats(); // { runs, drops, errors, meanMs, byApp }
 * await face.close();
 * ```
 */
export class ModelRunnerClient {
  private readonly queue: Request[] = [];
  private inflight: Request | undefined;
  private inflightTimer: NodeJS.Timeout | undefined;
  private readonly waitingApps = new Set<string>();
  private nextId = 1;
  private closed = false;
  private totalMs = 0;
  private readonly counters: ModelRunnerStats = { runs: 0, drops: 0, errors: 0, refused: 0, meanMs: 0, byApp: {} };
  /** attach() calls waiting for the runner to take their socket, by request id. */
  private readonly attaching = new Map<number, () => void>();
  /** Watchdog of the request running for a direct channel (the runner says when it starts and ends). */
  private directTimer: NodeJS.Timeout | undefined;
  private readonly exitPromise: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly pkg: ModelPackage,
    private readonly options: ModelRunnerOptions,
  ) {
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.fail('MODEL_UNAVAILABLE', `The model runner for ${pkg.descriptor.name} exited (${signal ?? code}).`);
        options.onExit?.(code, signal);
        resolve();
      });
    });
    child.on('message', (m: unknown) => this.receive(m as RunnerReply));
  }

  /**
   * Starts a runner process for a model package and waits until the model is
   * loaded and matches its descriptor (input name and shape, output names).
   * Throws MODEL_PACKAGE_INVALID / MODEL_HASH_MISMATCH / MODEL_LOAD_FAILED.
   */
  static async start(options: ModelRunnerOptions): Promise<ModelRunnerClient> {
    const pkg = typeof options.pkg === 'string' ? await loadModelPackage(options.pkg) : options.pkg;
    const entry = options.entry ?? join(here, fileURLToPath(import.meta.url).endsWith('.ts') ? 'model-runner.ts' : 'model-runner.js');
    const child = fork(entry, [], {
      cwd: here,
      execArgv: entry.endsWith('.ts') ? ['--import', 'tsx'] : [],
      // The runner needs nothing from the agent's environment (which may hold secrets).
      env: { NODE_ENV: process.env.NODE_ENV ?? 'production' },
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line.trim() !== '') options.onOutput?.(line);
      });
    }
    const client = new ModelRunnerClient(child, pkg, options);
    await client.load(options.startTimeoutMs ?? 60_000);
    return client;
  }

  /** What apps are told about this model (input spec and output names). */
  get spec(): ModelIoSpec {
    return ioSpec(this.pkg.descriptor);
  }

  /** Process id of the runner (for cgroup placement and status). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private load(timeoutMs: number): Promise<void> {
    const d = this.pkg.descriptor;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.child.kill('SIGKILL');
        reject(new VisionError('MODEL_LOAD_FAILED', `The model ${d.name} did not load within ${timeoutMs} ms.`));
      }, timeoutMs);
      const onMessage = (m: RunnerReply): void => {
        if (m.t === 'ready') {
          cleanup();
          resolve();
        } else if (m.t === 'error' && m.id === undefined) {
          cleanup();
          this.child.kill('SIGKILL');
          reject(new VisionError('MODEL_LOAD_FAILED', `The model ${d.name} could not be loaded: ${m.message}`));
        }
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new VisionError('MODEL_LOAD_FAILED', `The model runner exited while loading ${d.name} (${code}).`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.child.on('exit', onExit);
      const msg: RunnerRequest = {
        t: 'load',
        modelPath: this.pkg.modelPath,
        input: { name: d.input.name, shape: d.input.shape, range: d.input.range },
        outputs: d.outputs,
        threads: this.options.threads ?? 1,
      };
      this.child.send(msg);
    });
  }

  /**
   * Runs the model for app `app`. Rejects with MODEL_BUSY when that app
   * already has a request waiting or running (the frame is dropped and
   * counted), MODEL_INPUT_INVALID when the tensor has the wrong length,
   * MODEL_UNAVAILABLE when the runner is gone, MODEL_TIMEOUT when it hung.
   */
  run(app: string, input: Float32Array): Promise<Record<string, Float32Array>> {
    const per = (this.counters.byApp[app] ??= { runs: 0, drops: 0 });
    if (this.closed)
      return Promise.reject(new VisionError('MODEL_UNAVAILABLE', `The model runner for ${this.pkg.descriptor.name} is not running.`));
    const expected = inputLength(this.pkg.descriptor);
    if (!(input instanceof Float32Array) || input.length !== expected) {
      return Promise.reject(
        new VisionError(
          'MODEL_INPUT_INVALID',
          `The input of ${this.pkg.descriptor.name} is a Float32Array of ${expected} values ([${this.pkg.descriptor.input.shape.join(',')}] ${this.pkg.descriptor.input.layout}).`,
        ),
      );
    }
    if (this.waitingApps.has(app)) {
      this.counters.drops++;
      per.drops++;
      return Promise.reject(
        new VisionError('MODEL_BUSY', "The model is still working on this app's previous request; this one was dropped."),
      );
    }
    this.waitingApps.add(app);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, app, input, resolve, reject });
      this.pump();
    });
  }

  /**
   * Hands one app its direct channel to this model: `socket` is the agent's
   * end of a socket pair whose other end the app process holds (stdio; see
   * appLaunchSpec's `modelChannels`). It goes to the runner process and is
   * closed here, so the app's tensors and outputs never pass through the
   * agent. The runner applies the same rules as {@link run}: sizes checked,
   * one request per app at a time (MODEL_BUSY), turns in arrival order; a
   * request that hangs kills the runner after `requestTimeoutMs`. Resolves
   * once the runner reads the socket (the app must not write before: hand
   * the socket over before the app can have said hello).
   */
  attach(app: string, socket: Socket): Promise<void> {
    // Node starts reading a new socket at once: bytes it already took would be lost to the runner
    // and break the framing, so such a socket is refused (the app sees MODEL_UNAVAILABLE).
    if (this.closed || !this.child.connected || socket.readableLength > 0) {
      socket.destroy();
      return Promise.reject(
        new VisionError('MODEL_UNAVAILABLE', `The model runner for ${this.pkg.descriptor.name} cannot take the channel.`),
      );
    }
    socket.pause();
    const id = this.nextId++;
    const msg: RunnerRequest = { t: 'attach', id, app };
    return new Promise((resolve, reject) => {
      this.attaching.set(id, resolve);
      this.child.send(msg, socket, (error) => {
        if (error === null) return;
        this.attaching.delete(id);
        socket.destroy();
        reject(new VisionError('MODEL_UNAVAILABLE', 'Could not hand the channel to the model runner.'));
      });
    });
  }

  private direct(m: Extract<RunnerReply, { t: 'direct' }>): void {
    const per = (this.counters.byApp[m.app] ??= { runs: 0, drops: 0 });
    switch (m.event) {
      case 'attached':
        this.attaching.get(m.id ?? -1)?.();
        this.attaching.delete(m.id ?? -1);
        break;
      case 'run': {
        clearTimeout(this.directTimer);
        const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
        this.directTimer = setTimeout(() => {
          this.fail('MODEL_TIMEOUT', `The model ${this.pkg.descriptor.name} did not answer within ${timeoutMs} ms.`);
          this.child.kill('SIGKILL');
        }, timeoutMs);
        break;
      }
      case 'done':
        clearTimeout(this.directTimer);
        if (m.ok === true) {
          this.counters.runs++;
          per.runs++;
          this.totalMs += m.ms ?? 0;
          this.counters.meanMs = this.totalMs / this.counters.runs;
        } else this.counters.errors++;
        break;
      case 'drop':
        this.counters.drops++;
        per.drops++;
        break;
      case 'refused':
        this.counters.refused++;
        this.options.onOutput?.(`refused the model channel of ${m.app}: ${(m.detail ?? '').slice(0, 200)}`);
        break;
    }
  }

  private pump(): void {
    if (this.inflight !== undefined || this.closed) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.inflight = next;
    const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
    this.inflightTimer = setTimeout(() => {
      // A runner that hangs is killed; the exit handler fails what waits and the supervisor restarts it.
      this.fail('MODEL_TIMEOUT', `The model ${this.pkg.descriptor.name} did not answer within ${timeoutMs} ms.`);
      this.child.kill('SIGKILL');
    }, timeoutMs);
    const msg: RunnerRequest = { t: 'run', id: next.id, input: next.input };
    this.child.send(msg, (error) => {
      if (error !== null) this.fail('MODEL_UNAVAILABLE', 'Could not reach the model runner.');
    });
  }

  private receive(m: RunnerReply): void {
    if (m.t === 'ready' || (m.t === 'error' && m.id === undefined)) return; // load replies: see load()
    if (m.t === 'direct') return this.direct(m);
    const req = this.inflight;
    if (req === undefined || req.id !== m.id) return;
    clearTimeout(this.inflightTimer);
    this.inflight = undefined;
    this.waitingApps.delete(req.app);
    const per = (this.counters.byApp[req.app] ??= { runs: 0, drops: 0 });
    if (m.t === 'result') {
      this.counters.runs++;
      per.runs++;
      this.totalMs += m.ms;
      this.counters.meanMs = this.totalMs / this.counters.runs;
      req.resolve({ ...m.outputs });
    } else {
      this.counters.errors++;
      const code: VisionErrorCode = m.code === 'MODEL_INPUT_INVALID' || m.code === 'MODEL_UNAVAILABLE' ? m.code : 'MODEL_FAILED';
      req.reject(new VisionError(code, m.message));
    }
    this.pump();
  }

  private fail(code: VisionErrorCode, message: string): void {
    clearTimeout(this.inflightTimer);
    clearTimeout(this.directTimer);
    this.closed = true;
    const all = [...(this.inflight === undefined ? [] : [this.inflight]), ...this.queue.splice(0)];
    this.inflight = undefined;
    this.waitingApps.clear();
    for (const r of all) {
      this.counters.errors++;
      r.reject(new VisionError(code, message));
    }
  }

  /** A snapshot of the counters. */
  stats(): ModelRunnerStats {
    return structuredClone(this.counters);
  }

  /** Stops the runner (what waits fails with MODEL_UNAVAILABLE) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (this.child.connected) this.child.disconnect();
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await this.exitPromise;
      clearTimeout(killer);
    }
    this.fail('MODEL_UNAVAILABLE', `The model runner for ${this.pkg.descriptor.name} was closed.`);
  }
}
