import type { ChildProcess } from 'node:child_process';
import type { appsApi } from '@sightline/protocol';
import { SdkError, type AppDescriptor, type FrameData, type ModelSpec } from '@sightline/sdk';
import type { Socket } from 'node:net';
import { AppEndpoint, FrameRing, FrameSlot, appLaunchSpec, lendFrame, type AppHost } from '@sightline/sdk/agent';
import type { CameraCredentials } from '../camera/credentials.js';
import { Backoff } from '../client/backoff.js';
import { CameraIngest, type CameraIngestOptions, type CameraStatus } from '../camera/ingest.js';
import type { Clock } from '../clock.js';
import type { OutputHub } from '../output/hub.js';
import { describeExit } from '../sandbox/exit.js';
import type { NodeSupervisor } from '../sandbox/supervisor.js';
import type { SupervisorEvent } from '../sandbox/types.js';
import { ModelRunnerClient } from '../vision/model-runner-client.js';
import type { ModelPackage } from '../vision/model-package.js';
import type { AppLog } from './app-logs.js';
import { AppError } from './errors.js';
import type { FrameTarget, Wiring } from './graph.js';
import type { AppKvStore } from './kv-store.js';
import type { NodeLauncher } from './launcher.js';
import type { DesiredApp } from './planner.js';

/** A code node ready to start: its package materialised, its storage open. */
export interface PreparedNode {
  readonly node: string;
  readonly descriptor: AppDescriptor;
  /** The package folder (read-only to the app). */
  readonly appDir: string;
  /** Absolute path of the bundle inside appDir. */
  readonly entry: string;
  /** The node's writable folder (disk quota). */
  readonly storageDir: string;
  readonly kv: AppKvStore;
}

/** Everything an instance needs to start, checked and on disk. */
export interface PreparedApp {
  readonly app: DesiredApp;
  readonly nodes: readonly PreparedNode[];
  readonly models: ReadonlyMap<string, ModelPackage>;
  readonly wiring: Wiring;
}

export interface RuntimeDeps {
  readonly launcher: NodeLauncher;
  readonly hub: OutputHub;
  readonly clock: Clock;
  readonly log: AppLog;
  /** Fetches a camera's credentials just in time (DeviceClient.cameraCredentials). */
  readonly credentials: (cameraId: string, signal: AbortSignal) => Promise<CameraCredentials>;
  readonly ffmpegPath?: string | undefined;
  readonly startModel?: (pkg: ModelPackage, hooks: ModelRunnerHooks) => Promise<ModelRunnerClient>;
  /** Backoff between attempts to start a model runner again after it died; default 1 s doubling to 60 s. */
  readonly modelBackoff?: { readonly baseMs: number; readonly maxMs: number };
  /** Something a status report shows changed (a camera state, a node restart). */
  readonly onChange?: () => void;
  /** Camera reconnect backoff. */
  readonly cameraBackoff?: { readonly baseMs: number; readonly maxMs: number };
  /** Frame size when no consumer asks for one. */
  readonly defaultFrameSize?: { readonly width: number; readonly height: number };
}

/** What the runtime wants to hear from a model runner it starts. */
export interface ModelRunnerHooks {
  /** A line the runner printed. */
  readonly onOutput: (line: string) => void;
  /** The runner process ended (a crash, a kill, or close()). */
  readonly onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

type CameraReport = NonNullable<appsApi.AppStatusReport['cameras']>[number];
type NodeReport = NonNullable<appsApi.AppStatusReport['nodes']>[number];

/** A model node's runner over its restarts: whether one is being started again, how often, why the last stopped, and the counts of those gone. */
interface ModelHealth {
  restarting: boolean;
  restarts: number;
  lastExit?: string;
  carried: { runs: number; drops: number; errors: number };
}

interface CameraRun {
  readonly cam: appsApi.InstanceCamera;
  readonly width: number;
  readonly height: number;
  readonly targets: readonly FrameTarget[];
  ingest: CameraIngest | undefined;
  credentials: CameraCredentials | undefined;
  /** Why the camera is not connecting: its credentials could not be fetched (it then waits and tries again), or, fetched late, its ingest did not start. */
  startError: string | undefined;
  stopper: AbortController | undefined;
  forwarding: Promise<void> | undefined;
  paused: boolean;
  lastState: string;
}

interface NodeRun {
  readonly prepared: PreparedNode;
  readonly slots: Map<string, FrameSlot>;
  readonly metrics: Map<string, number>;
  supervisor: NodeSupervisor | undefined;
  endpoint: AppEndpoint | undefined;
  child: ChildProcess | undefined;
  greeted: boolean;
  /** Frames in and out through tmpfs, not IPC; undefined where it could not be made (frames then go over IPC). */
  ring: FrameRing | undefined;
}

const even = (n: number): number => Math.max(16, Math.round(n / 2) * 2);

/**
 * One running app instance on the appliance: a model runner per model node,
 * one sandboxed process per code node (served through the SDK's
 * AppEndpoint), camera ingest per camera node feeding the code nodes'
 * inputs (latest frame only: frames are dropped, never queued, when an app
 * is slower than its camera), and the apps' output frames routed to the
 * output hub (MJPEG) or to the next code node.
 *
 * Camera credentials stay in this process (CameraIngest speaks RTSP
 * itself): the apps receive frames and the camera's name, never its URL or
 * credentials, so nothing of them reaches an app's environment, argv or files.
 */
export class AppRuntime {
  private readonly cameras = new Map<string, CameraRun>();
  private readonly runners = new Map<string, ModelRunnerClient>();
  /** Per model node: restarts of its runner, why the last one stopped, and the counts of the runners before the live one. */
  private readonly modelHealth = new Map<string, ModelHealth>();
  private readonly nodes = new Map<string, NodeRun>();
  private stopped = false;
  /** Aborted by stop(): ends the waits of model runner restarts. */
  private readonly stopper = new AbortController();
  private startFailure: ((err: AppError) => void) | undefined;
  private greetedAll: (() => void) | undefined;

  private constructor(
    readonly prepared: PreparedApp,
    private readonly deps: RuntimeDeps,
  ) {}

  get instanceId(): string {
    return this.prepared.app.instanceId;
  }

  /** Starts everything; resolves once every code node has said hello. On failure, whatever started is stopped again. */
  static async start(prepared: PreparedApp, deps: RuntimeDeps, signal: AbortSignal): Promise<AppRuntime> {
    const rt = new AppRuntime(prepared, deps);
    try {
      await rt.startAll(signal);
      return rt;
    } catch (err) {
      await rt.stop();
      throw err;
    }
  }

  private async startAll(signal: AbortSignal): Promise<void> {
    const { app } = this.prepared;
    for (const [node, pkg] of this.prepared.models) {
      if (signal.aborted) throw cancelled();
      try {
        this.runners.set(node, await this.startRunner(node, pkg));
      } catch (err) {
        throw new AppError('MODEL_START_FAILED', `Model node ${node} did not start: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
    }
    if (signal.aborted) throw cancelled();
    const greeted = new Promise<void>((resolve, reject) => {
      this.greetedAll = resolve;
      this.startFailure = reject;
      signal.addEventListener('abort', () => reject(cancelled()), { once: true });
    });
    for (const p of this.prepared.nodes) await this.startNode(p);
    if (this.nodes.size > 0 && [...this.nodes.values()].every((n) => n.greeted)) this.greetedAll?.();
    await greeted;
    this.startFailure = undefined;
    for (const cam of app.cameras) {
      if (signal.aborted) throw cancelled();
      const run = this.cameraRun(cam);
      this.cameras.set(cam.node, run);
      if (!cam.paused) await this.startCamera(run, signal);
    }
  }

  private cameraRun(cam: appsApi.InstanceCamera): CameraRun {
    const targets = this.prepared.wiring.cameras.get(cam.node) ?? [];
    // ffmpeg scales to what the (first) consuming input asked for.
    let width = this.deps.defaultFrameSize?.width ?? 640;
    let height = this.deps.defaultFrameSize?.height ?? 480;
    for (const t of targets) {
      if (t.kind !== 'input') continue;
      const input = this.nodes.get(t.node)?.prepared.descriptor.inputs[t.port];
      if (input?.width !== undefined && input.height !== undefined) {
        width = input.width;
        height = input.height;
        break;
      }
    }
    return {
      cam,
      width: even(width),
      height: even(height),
      targets,
      ingest: undefined,
      credentials: undefined,
      startError: undefined,
      stopper: undefined,
      forwarding: undefined,
      paused: cam.paused,
      lastState: cam.paused ? 'paused' : 'connecting',
    };
  }

  /**
   * Starts a camera: its credentials first where it has some (fetched just in
   * time, held in memory only), then its ingest. When the credentials cannot
   * be fetched (the control plane away, the secret gone) the camera does not
   * connect; it reports `reconnecting` with the reason and tries again with
   * backoff while the app runs, as for a camera that drops.
   */
  private async startCamera(run: CameraRun, signal?: AbortSignal): Promise<void> {
    run.paused = false;
    const stopper = new AbortController();
    run.stopper = stopper;
    if (run.cam.hasCredentials && !(await this.fetchCredentials(run, signal ?? stopper.signal))) {
      run.lastState = 'reconnecting';
      run.forwarding = this.retryCredentials(run, stopper);
      return;
    }
    run.forwarding = this.startIngest(run, stopper);
  }

  /** Seed point 18: fetched just in time, held in memory only. False (and the reason kept for the status) when it fails. */
  private async fetchCredentials(run: CameraRun, signal: AbortSignal): Promise<boolean> {
    try {
      run.credentials = await this.deps.credentials(run.cam.cameraId, signal);
      run.startError = undefined;
      return true;
    } catch (err) {
      // The control plane's own code where it answered (e.g. CAMERA_NOT_FOUND: the camera is no longer bound), else the client's.
      const e = err as { code?: string; details?: { serverCode?: unknown } };
      const why = typeof e.details?.serverCode === 'string' ? e.details.serverCode : (e.code ?? 'error');
      run.startError = `CAMERA_CREDENTIALS_UNAVAILABLE: the credentials of camera ${run.cam.camera} could not be fetched (${why}); trying again`;
      return false;
    }
  }

  private async retryCredentials(run: CameraRun, stopper: AbortController): Promise<void> {
    const backoff = new Backoff({
      baseMs: this.deps.cameraBackoff?.baseMs ?? 1000,
      maxMs: this.deps.cameraBackoff?.maxMs ?? 30_000,
      random: Math.random,
    });
    this.deps.onChange?.();
    while (!stopper.signal.aborted) {
      await this.deps.clock.sleep(backoff.next(), stopper.signal);
      if (stopper.signal.aborted) return;
      if (await this.fetchCredentials(run, stopper.signal)) {
        if (stopper.signal.aborted) {
          run.credentials?.dispose();
          run.credentials = undefined;
          return;
        }
        this.deps.onChange?.();
        try {
          await this.startIngest(run, stopper);
        } catch (err) {
          run.lastState = 'failed';
          run.startError = err instanceof Error ? err.message.slice(0, 400) : String(err);
          this.deps.log.line('error', `camera ${run.cam.camera} could not start: ${run.startError}`);
          this.deps.onChange?.();
        }
        return;
      }
    }
  }

  /** The camera's ingest (ffmpeg), and the loop that hands its frames to the inputs it feeds; resolves when `stopper` ends it. */
  private startIngest(run: CameraRun, stopper: AbortController): Promise<void> {
    const { cam } = run;
    const options: CameraIngestOptions = {
      source: { url: cam.url, credentials: run.credentials, ca: cam.tlsCaPem },
      width: run.width,
      height: run.height,
      ffmpegPath: this.deps.ffmpegPath,
      backoff: this.deps.cameraBackoff,
    };
    let ingest: CameraIngest;
    try {
      ingest = new CameraIngest(options, { clock: this.deps.clock });
    } catch (err) {
      run.credentials?.dispose();
      run.credentials = undefined;
      throw new AppError('CAMERA_START_FAILED', `Camera ${cam.camera} cannot start: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    run.ingest = ingest;
    ingest.onStatus((s) => {
      if (s.state !== run.lastState) {
        run.lastState = s.state;
        this.deps.onChange?.();
      }
    });
    const sub = ingest.subscribe();
    ingest.start();
    const minGap = new Map<string, number>();
    for (const t of run.targets) {
      if (t.kind !== 'input') continue;
      const fps = this.nodes.get(t.node)?.prepared.descriptor.inputs[t.port]?.fps;
      if (fps !== undefined) minGap.set(`${t.node}.${t.port}`, 1000 / fps);
    }
    const lastAt = new Map<string, number>();
    return (async () => {
      while (!stopper.signal.aborted) {
        const f = await sub.next({ signal: stopper.signal });
        if (f === undefined) continue;
        const timestamp = Date.now();
        for (const t of run.targets) {
          if (t.kind !== 'input') continue;
          const key = `${t.node}.${t.port}`;
          const gap = minGap.get(key);
          // The input's fps cap: frames beyond it are dropped here, at ingest.
          if (gap !== undefined && f.at - (lastAt.get(key) ?? Number.NEGATIVE_INFINITY) < gap * 0.9) continue;
          lastAt.set(key, f.at);
          const slot = this.nodes.get(t.node)?.slots.get(t.port);
          if (slot === undefined) continue;
          // Each input gets its own claim on the pooled pixels: its slot returns it when it drops the frame,
          // the app's endpoint once it has copied it into the ring (see lendFrame).
          const hold = f.retain();
          const frame: FrameData = { width: f.width, height: f.height, data: hold.data, timestamp, camera: cam.camera };
          slot.offer(lendFrame(frame, () => hold.release()));
        }
        f.release();
      }
      sub.close();
    })();
  }

  private async stopCamera(run: CameraRun): Promise<void> {
    run.stopper?.abort();
    await run.forwarding;
    await run.ingest?.stop();
    run.credentials?.dispose();
    run.credentials = undefined;
    run.startError = undefined;
    run.ingest = undefined;
    run.stopper = undefined;
    run.forwarding = undefined;
  }

  async pauseCamera(node: string): Promise<void> {
    const run = this.cameras.get(node);
    if (run === undefined || run.paused) return;
    run.paused = true;
    await this.stopCamera(run);
    run.lastState = 'paused';
    this.deps.onChange?.();
  }

  async resumeCamera(node: string): Promise<void> {
    const run = this.cameras.get(node);
    if (run === undefined || !run.paused || this.stopped) return;
    await this.startCamera(run);
    this.deps.onChange?.();
  }

  pausedCameras(): string[] {
    return [...this.cameras.values()].filter((c) => c.paused).map((c) => c.cam.node);
  }

  private host(run: NodeRun): AppHost {
    const { app } = this.prepared;
    const node = run.prepared.node;
    const ports = this.prepared.wiring.models.get(node);
    return {
      init: () => {
        const models: Record<string, ModelSpec> = {};
        for (const [port, modelNode] of ports ?? []) {
          const r = this.runners.get(modelNode);
          if (r !== undefined) models[port] = r.spec;
        }
        if (!run.greeted) {
          run.greeted = true;
          if ([...this.nodes.values()].every((n) => n.greeted)) this.greetedAll?.();
        }
        return { instance: app.instanceId, parameters: { ...(app.parameters[node] ?? {}) }, models };
      },
      getFrame: (input, timeoutMs, signal) => {
        const slot = run.slots.get(input);
        if (slot === undefined) return Promise.reject(new SdkError('UNKNOWN_INPUT', `"${input}" is not declared in the descriptor.`));
        return slot.take(timeoutMs, signal);
      },
      runModel: (port, input) => {
        const modelNode = ports?.get(port);
        const runner = modelNode === undefined ? undefined : this.runners.get(modelNode);
        if (runner === undefined) return Promise.reject(new SdkError('UNKNOWN_MODEL', `"${port}" is not bound to a model.`));
        return runner.run(`${app.instanceId}/${node}`, input);
      },
      putFrame: (port, frame) => {
        if (!Object.hasOwn(run.prepared.descriptor.outputs, port))
          throw new SdkError('UNKNOWN_OUTPUT', `"${port}" is not declared in the descriptor.`);
        for (const t of this.prepared.wiring.outputs.get(`${node}.${port}`) ?? []) {
          if (t.kind === 'output') this.deps.hub.publish(app.instanceId, t.node, frame);
          else this.nodes.get(t.node)?.slots.get(t.port)?.offer(frame);
        }
      },
      // An output frame is read from the ring only when a viewer (MJPEG, preview) or a next node wants it.
      wantsOutput: (port) =>
        (this.prepared.wiring.outputs.get(`${node}.${port}`) ?? []).some(
          (t) => t.kind === 'input' || this.deps.hub.watched(app.instanceId, t.node),
        ),
      storageGet: (key) => run.prepared.kv.get(key),
      storageSet: (key, value) => run.prepared.kv.set(key, value),
      storageDelete: (key) => run.prepared.kv.delete(key),
      log: (level, message, fields) => {
        const extra = fields === undefined ? '' : ` ${JSON.stringify(fields)}`;
        this.deps.log.line(level, `[${node}] ${message}${extra}`);
      },
      metric: (name, n) => run.metrics.set(name, (run.metrics.get(name) ?? 0) + n),
      exited: (ok, error) => {
        if (!ok) this.deps.log.line('error', `[${node}] the app's run ended with ${error?.code ?? 'an error'}: ${error?.message ?? ''}`);
      },
      protocolError: (detail) => this.deps.log.line('warn', `[${node}] refused a message from the app: ${detail}`),
    };
  }

  private async startNode(p: PreparedNode): Promise<void> {
    const { app } = this.prepared;
    let ring: FrameRing | undefined;
    try {
      ring = await FrameRing.create(Object.keys(p.descriptor.inputs), Object.keys(p.descriptor.outputs));
    } catch (err) {
      this.deps.log.line('warn', `[${p.node}] no frame ring (${(err as { code?: string }).code ?? 'error'}): frames go over IPC`);
    }
    // Direct sockets app ⇄ model runner, one per model port this node is wired to.
    const modelPorts = [...(this.prepared.wiring.models.get(p.node) ?? new Map<string, string>())].filter(([, modelNode]) =>
      this.runners.has(modelNode),
    );
    const run: NodeRun = {
      prepared: p,
      slots: new Map(Object.keys(p.descriptor.inputs).map((k) => [k, new FrameSlot()])),
      metrics: new Map(),
      supervisor: undefined,
      endpoint: undefined,
      child: undefined,
      greeted: false,
      ring,
    };
    this.nodes.set(p.node, run);
    const host = this.host(run);
    const onEvent = (e: SupervisorEvent): void => {
      switch (e.type) {
        case 'started':
          run.child = e.child;
          // Each start makes new socket pairs: hand this process's ends to the runners (the agent keeps no copy).
          for (const [port, modelNode] of modelPorts) {
            const socket = e.child.stdio[launch.modelFds[port]!] as Socket | null | undefined;
            const runner = this.runners.get(modelNode);
            if (socket == null || runner === undefined) continue;
            // Before the app can have said hello; if it fails, the app's model calls fail MODEL_UNAVAILABLE.
            runner.attach(`${app.instanceId}/${p.node}`, socket).catch((err: unknown) => {
              this.deps.log.line('warn', `[${p.node}] no direct channel to ${modelNode}: ${(err as Error).message}`);
            });
          }
          run.endpoint = new AppEndpoint(e.child, host, { ...(ring === undefined ? {} : { ring }), modelFds: launch.modelFds });
          this.deps.log.follow(e.child.stdout, p.node, 'info');
          this.deps.log.follow(e.child.stderr, p.node, 'warn');
          e.child.once('exit', () => run.endpoint?.close());
          break;
        case 'exited':
        case 'start-failed': {
          const why = e.type === 'exited' ? describeExit(e.reason) : `start failed: ${e.error.message}`;
          this.deps.log.line('error', `[${p.node}] stopped (${why})${e.restartInMs === null ? '' : `; restarting in ${e.restartInMs} ms`}`);
          run.endpoint?.close();
          if (!run.greeted) this.startFailure?.(new AppError('NODE_START_FAILED', `Code node ${p.node} ended before it started (${why}).`));
          break;
        }
        case 'stopped':
          break;
      }
      this.deps.onChange?.();
    };
    const launch = appLaunchSpec({
      entry: p.entry,
      appDir: p.appDir,
      storageDir: p.storageDir,
      memoryMiB: p.descriptor.resources.memoryMiB,
      instance: app.instanceId,
      ...(ring === undefined ? {} : { ringFd: ring.fd }),
      modelChannels: modelPorts.map(([port]) => port),
    });
    run.supervisor = this.deps.launcher.supervise(
      {
        instance: app.instanceId,
        node: p.node,
        launch,
        appDir: p.appDir,
        storageDir: p.storageDir,
        allowNetwork: p.descriptor.network?.outbound === true,
        limits: {
          memoryMiB: p.descriptor.resources.memoryMiB,
          cpuCores: p.descriptor.resources.cpuShare,
          diskMiB: p.descriptor.resources.diskMiB,
        },
      },
      { onEvent, restart: { baseMs: 1000, maxMs: 30_000 } },
    );
    run.supervisor.start();
  }

  /** Camera and node status in the shape of the status report. */
  status(): { cameras: CameraReport[]; nodes: NodeReport[] } {
    const cameras: CameraReport[] = [];
    for (const run of this.cameras.values()) {
      const s: CameraStatus | undefined = run.ingest?.status();
      const state: CameraReport['state'] =
        run.paused || s === undefined
          ? run.paused
            ? 'paused'
            : 'connecting'
          : s.state === 'backoff'
            ? 'reconnecting'
            : s.state === 'stopped'
              ? 'connecting'
              : s.state;
      const report: CameraReport = { camera: run.cam.camera, state, fps: s?.fps ?? 0 };
      if (s?.lastError != null) report.lastError = `${s.lastError.code}: ${s.lastError.message}`.slice(0, 512);
      if (!run.paused && s === undefined && run.startError !== undefined) {
        // Not connected for want of its credentials (or its ingest did not start once they came).
        report.state = run.lastState === 'failed' ? 'failed' : 'reconnecting';
        report.lastError = run.startError.slice(0, 512);
      }
      cameras.push(report);
    }
    const nodes: NodeReport[] = [];
    for (const run of this.nodes.values()) {
      const sup = run.supervisor?.status();
      const report: NodeReport = { node: run.prepared.node, state: sup?.state ?? 'starting', restarts: sup?.restarts ?? 0 };
      if (sup?.lastExit !== undefined) report.lastExit = sup.lastExit;
      if (run.metrics.size > 0) report.metrics = Object.fromEntries([...run.metrics].slice(0, 64));
      nodes.push(report);
    }
    for (const [node, runner] of this.runners) {
      const health = this.healthOf(node);
      const c = runner.stats();
      const report: NodeReport = {
        node,
        state: health.restarting ? 'restarting' : 'running',
        restarts: health.restarts,
        // What the runner served: inferences, frames dropped because the app's previous one was still at the model, errors.
        metrics: {
          runs: health.carried.runs + c.runs,
          drops: health.carried.drops + c.drops,
          errors: health.carried.errors + c.errors,
          mean_ms: Math.round(c.meanMs * 100) / 100,
        },
      };
      if (health.lastExit !== undefined) report.lastExit = health.lastExit;
      nodes.push(report);
    }
    return { cameras, nodes };
  }

  private healthOf(node: string): ModelHealth {
    let h = this.modelHealth.get(node);
    if (h === undefined) {
      h = { restarting: false, restarts: 0, carried: { runs: 0, drops: 0, errors: 0 } };
      this.modelHealth.set(node, h);
    }
    return h;
  }

  /**
   * Starts the runner of a model node. If it dies while it serves (a crash,
   * the kernel's OOM killer), it is started again with backoff: see
   * {@link restartRunner}.
   */
  private async startRunner(node: string, pkg: ModelPackage): Promise<ModelRunnerClient> {
    const started: { runner?: ModelRunnerClient } = {};
    const hooks: ModelRunnerHooks = {
      onOutput: (line) => this.deps.log.line('info', `[${node}] ${line}`),
      onExit: (code, signal) => {
        // Still loading (start() throws), closed by stop(), or already replaced: nothing to do.
        if (this.stopped || started.runner === undefined || this.runners.get(node) !== started.runner) return;
        void this.restartRunner(node, pkg, signal ?? `exit ${code}`);
      },
    };
    started.runner = await (this.deps.startModel ?? ((p, h) => ModelRunnerClient.start({ pkg: p, ...h })))(pkg, hooks);
    return started.runner;
  }

  /**
   * A model runner died: until a new one is up, the apps' model calls fail
   * MODEL_UNAVAILABLE (privacy-blur drops those frames: it fails closed).
   * Starts a new runner with backoff, then restarts the code nodes wired to
   * it, so that each gets a new direct channel to the new runner.
   */
  private async restartRunner(node: string, pkg: ModelPackage, why: string): Promise<void> {
    const backoff = new Backoff({
      baseMs: this.deps.modelBackoff?.baseMs ?? 1000,
      maxMs: this.deps.modelBackoff?.maxMs ?? 60_000,
      random: Math.random,
    });
    this.deps.log.line('error', `[${node}] the model runner stopped (${why}); starting it again`);
    const health = this.healthOf(node);
    const gone = this.runners.get(node)?.stats();
    if (gone !== undefined) {
      health.carried.runs += gone.runs;
      health.carried.drops += gone.drops;
      health.carried.errors += gone.errors;
    }
    health.restarting = true;
    health.restarts++;
    health.lastExit = why.slice(0, 512);
    this.deps.onChange?.();
    while (!this.stopped) {
      await this.deps.clock.sleep(backoff.next(), this.stopper.signal);
      if (this.stopped) return;
      let runner: ModelRunnerClient;
      try {
        runner = await this.startRunner(node, pkg);
      } catch (err) {
        this.deps.log.line('error', `[${node}] the model runner did not start again: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      if (this.stopped) {
        await runner.close();
        return;
      }
      this.runners.set(node, runner);
      health.restarting = false;
      this.deps.log.line('info', `[${node}] the model runner is back; restarting the code nodes that use it`);
      for (const run of this.nodes.values()) {
        const uses = [...(this.prepared.wiring.models.get(run.prepared.node)?.values() ?? [])].includes(node);
        if (uses) run.supervisor?.restart();
      }
      this.deps.onChange?.();
      return;
    }
  }

  /** Pids of the model runners now, by model node (tests and diagnostics). */
  modelPids(): Record<string, number> {
    return Object.fromEntries([...this.runners].flatMap(([node, r]) => (r.pid === undefined ? [] : [[node, r.pid] as [string, number]])));
  }

  /** Pids of the code nodes' processes now (tests and diagnostics). */
  nodePids(): number[] {
    return [...this.nodes.values()].map((n) => n.child?.pid).filter((p): p is number => p !== undefined);
  }

  /** Stops cameras, then code nodes (asked first, then the sandbox ends them), then model runners. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopper.abort();
    await Promise.all([...this.cameras.values()].map((c) => this.stopCamera(c)));
    for (const n of this.nodes.values()) {
      n.endpoint?.stop();
      for (const s of n.slots.values()) s.close();
    }
    await Promise.all([...this.nodes.values()].map((n) => n.supervisor?.stop(2000) ?? Promise.resolve()));
    await Promise.all([...this.nodes.values()].map((n) => n.ring?.close() ?? Promise.resolve()));
    await Promise.all([...this.runners.values()].map((r) => r.close()));
  }
}

function cancelled(): AppError {
  return new AppError('DEPLOYMENT_CANCELLED', 'The deployment was cancelled (a newer revision, a removal, or the agent stopping).');
}
