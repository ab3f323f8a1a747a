import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { InitInfo, LogFields, LogLevel, ModelSpec } from '../channel/messages.js';
import type { AppDescriptor } from '../descriptor.js';
import { SdkError } from '../errors.js';
import type { FrameData } from '../frame.js';
import { AppEndpoint, type AppHost } from './endpoint.js';
import type { FrameRing } from './frame-ring.js';
import { FrameSlot } from './frame-slot.js';
import { appLaunchSpec } from './launch.js';

/**
 * A model as the local runner offers it to the app: its spec and a run function (a ModelRunnerClient bound to the app).
 *
 * @example
 * ```ts
 * const face: LocalModel = { spec: runner.spec, run: (t) => runner.run('i-1', t) };
 * ```
 */
export interface LocalModel {
  readonly spec: ModelSpec;
  run(input: Float32Array): Promise<Readonly<Record<string, Float32Array>>>;
  /**
   * Takes the agent's end of a direct socket to the app (ModelRunnerClient.attach): with it, the app's
   * tensors go straight to the runner, as uint8 pixels where the app sends them.
   */
  attach?(socket: Socket): void | Promise<void>;
}

/**
 * Options of {@link startLocalApp}.
 *
 * @example
 * ```ts
 * startLocalApp({ entry, appDir, storageDir, descriptor, parameters: { threshold: 0.8 }, models: { face } });
 * ```
 */
export interface LocalAppOptions {
  /** Absolute path of the bundle (`app.mjs`) inside `appDir`. */
  readonly entry: string;
  readonly appDir: string;
  readonly storageDir: string;
  readonly descriptor: AppDescriptor;
  readonly instance?: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly models?: Readonly<Record<string, LocalModel>>;
  /** Called for each frame the app puts out (the default keeps them in `outputs`). */
  readonly onFrame?: (output: string, frame: FrameData) => void;
  /** Whether an output's ring frames are read at all (AppHost.wantsOutput); default yes. Unread ones only count in `endpoint.stats`. */
  readonly wantsOutput?: (output: string) => boolean;
  /** A frame ring for the app's inputs and outputs (FrameRing.create); closed when the app exits. Absent: frames over IPC. */
  readonly ring?: FrameRing;
}

/**
 * A running app process and what it produced.
 *
 * @example
 * ```ts
 * const app: LocalApp = startLocalApp(options);
 * app.offer('video_in', frame);
 * await app.stop();
 * app.metrics.get('faces');
 * ```
 */
export interface LocalApp {
  readonly child: ChildProcess;
  readonly endpoint: AppEndpoint;
  /** Offer a frame to an input (latest-frame slot: an unread one is replaced and counted as dropped; a lent one is returned when done). */
  offer(input: string, frame: FrameData): void;
  /** The input's slot (dropped / delivered counters). */
  slot(input: string): FrameSlot;
  readonly outputs: Map<string, FrameData[]>;
  readonly logs: Array<{ level: LogLevel; message: string; fields: LogFields | undefined }>;
  readonly metrics: Map<string, number>;
  readonly storage: Map<string, string>;
  /** Everything the process wrote to stdout/stderr. */
  readonly stdio: string[];
  /** The app's own report of how `run` ended, once it has. */
  readonly exit: { ok: boolean; error?: { code: string; message: string } } | undefined;
  /** Resolves with the process's exit code once it has exited. */
  readonly exited: Promise<number | null>;
  /** Asks the app to stop, waits up to `graceMs` (default 5 s), then kills it. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Runs a bundled app in its own sandboxed process (appLaunchSpec) and serves
 * it in memory: frames through one {@link FrameSlot} per input, outputs,
 * logs, metrics and storage kept in maps. The agent's app supervisor does
 * the same with camera ingest, the MJPEG server, the log spool, Prometheus
 * and encrypted storage; this is its reference and what tests use.
 *
 * @example
 * ```ts
 * const app = startLocalApp({ entry, appDir, storageDir, descriptor, models: { face: { spec: runner.spec, run: (t) => runner.run('local', t) } } });
 * app.offer('video_in', frame);
 * // ... later
 * await app.stop();
 * app.outputs.get('video_out');
 * ```
 */
export function startLocalApp(o: LocalAppOptions): LocalApp {
  const instance = o.instance ?? 'local';
  const direct = Object.entries(o.models ?? {}).filter(([, m]) => m.attach !== undefined);
  const { command, args, options, modelFds } = appLaunchSpec({
    entry: o.entry,
    appDir: o.appDir,
    storageDir: o.storageDir,
    memoryMiB: o.descriptor.resources.memoryMiB,
    instance,
    ...(o.ring === undefined ? {} : { ringFd: o.ring.fd }),
    modelChannels: direct.map(([name]) => name),
  });
  const child = spawn(command, [...args], options);
  // Handed over before the app can have said hello; a failed hand-over shows as MODEL_UNAVAILABLE in the app.
  for (const [name, m] of direct) void Promise.resolve(m.attach!(child.stdio[modelFds[name]!] as Socket)).catch(() => undefined);
  const slots = new Map<string, FrameSlot>();
  for (const name of Object.keys(o.descriptor.inputs)) slots.set(name, new FrameSlot());
  const outputs = new Map<string, FrameData[]>();
  const logs: LocalApp['logs'] = [];
  const metrics = new Map<string, number>();
  const storage = new Map<string, string>();
  const stdio: string[] = [];
  let exit: LocalApp['exit'];
  for (const s of [child.stdout, child.stderr]) {
    s?.setEncoding('utf8');
    s?.on('data', (c: string) => stdio.push(c));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const host: AppHost = {
    init(): InitInfo {
      const models: Record<string, ModelSpec> = {};
      for (const [name, m] of Object.entries(o.models ?? {})) models[name] = m.spec;
      return { instance, parameters: { ...o.parameters }, models };
    },
    getFrame(input, timeoutMs, signal) {
      const slot = slots.get(input);
      if (slot === undefined) return Promise.reject(new SdkError('UNKNOWN_INPUT', `"${input}" is not declared in the descriptor.`));
      return slot.take(timeoutMs, signal);
    },
    runModel(model, input) {
      const m = o.models?.[model];
      if (m === undefined) return Promise.reject(new SdkError('UNKNOWN_MODEL', `"${model}" is not bound to a model.`));
      return m.run(input);
    },
    putFrame(output, frame) {
      if (!Object.hasOwn(o.descriptor.outputs, output))
        throw new SdkError('UNKNOWN_OUTPUT', `"${output}" is not declared in the descriptor.`);
      if (o.onFrame !== undefined) return o.onFrame(output, frame);
      const list = outputs.get(output) ?? [];
      list.push(frame);
      outputs.set(output, list);
    },
    ...(o.wantsOutput === undefined ? {} : { wantsOutput: o.wantsOutput }),
    storageGet: (key) => Promise.resolve(storage.get(key) ?? null),
    storageSet: (key, value) => {
      storage.set(key, value);
      return Promise.resolve();
    },
    storageDelete: (key) => {
      storage.delete(key);
      return Promise.resolve();
    },
    log: (level, message, fields) => logs.push({ level, message, fields }),
    metric: (name, n) => metrics.set(name, (metrics.get(name) ?? 0) + n),
    exited: (ok, error) => {
      exit = error === undefined ? { ok } : { ok, error };
    },
  };
  const endpoint = new AppEndpoint(child, host, { ...(o.ring === undefined ? {} : { ring: o.ring }), modelFds });
  child.once('exit', () => {
    endpoint.close();
    for (const s of slots.values()) s.close();
    void o.ring?.close();
  });
  return {
    child,
    endpoint,
    offer(input, frame) {
      const slot = slots.get(input);
      if (slot === undefined) throw new SdkError('UNKNOWN_INPUT', `"${input}" is not declared in the descriptor.`);
      slot.offer(frame);
    },
    slot(input) {
      const slot = slots.get(input);
      if (slot === undefined) throw new SdkError('UNKNOWN_INPUT', `"${input}" is not declared in the descriptor.`);
      return slot;
    },
    outputs,
    logs,
    metrics,
    storage,
    stdio,
    get exit() {
      return exit;
    },
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      endpoint.stop();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
