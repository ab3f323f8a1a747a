import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { DeviceClient } from '../client/device-client.js';
import type { IntegrityState } from '../integrity/monitor.js';
import type { AgentLogger } from '../logs/logger.js';
import type { OutputHub } from '../output/hub.js';
import { AppLog } from './app-logs.js';
import { nodeStorageDir, passThroughDirs } from './dirs.js';
import { deployApp, type Progress } from './deployment.js';
import { reportCode, reportMessage } from './errors.js';
import type { NodeLauncher } from './launcher.js';
import { PackageCache } from './package-cache.js';
import { deploymentKey, planApps, type AppStep, type DesiredApp, type InstanceSnapshot } from './planner.js';
import { StatusReporter } from './reporter.js';
import type { AppRuntime, RuntimeDeps } from './runtime.js';

export interface AppManagerOptions {
  readonly client: () => DeviceClient;
  readonly clock: Clock;
  readonly logger: AgentLogger;
  /** The agent's data folder: packages/ (encrypted blob cache) and apps/<instance>/ (storage, sealed stores, log spool). */
  readonly dataDir: string;
  /** Where package files are materialised for a run (plaintext): a tmpfs such as /run/sightline-agent where there is one. */
  readonly runRoot: string;
  /** 32-byte key derived from the root key for the package cache, app stores and app log spools. */
  readonly key: Uint8Array;
  readonly launcher: NodeLauncher;
  readonly hub: OutputHub;
  readonly ffmpegPath?: string | undefined;
  /** Running-status period (default 10 s; also sent on every change, at most one report a second). */
  readonly statusIntervalMs?: number;
  readonly reportIntervalMs?: number;
  readonly cameraBackoff?: { readonly baseMs: number; readonly maxMs: number };
  readonly startModel?: RuntimeDeps['startModel'];
  /** Called when an instance's stage changes or it goes (what `sightline-agent status` shows is then written again). */
  readonly onStage?: () => void;
}

interface Instance {
  readonly id: string;
  app: DesiredApp;
  revision: number;
  key: string;
  phase: InstanceSnapshot['phase'];
  /** A failed deployment the next plan may retry at the same revision (see retryFailed). */
  retry: boolean;
  stage: Progress['stage'];
  runtime: AppRuntime | undefined;
  runDir: string | undefined;
  deploying: { ctl: AbortController; done: Promise<void> } | undefined;
  ops: Promise<void>;
  readonly reporter: StatusReporter;
  readonly log: AppLog;
  readonly stopLog: AbortController;
  readonly logLoop: Promise<void>;
  statusLoop: AbortController | undefined;
}

/** What `sightline-agent status` and tests see of an instance. */
export interface InstanceView {
  readonly instanceId: string;
  readonly app: string;
  readonly revision: number;
  readonly phase: InstanceSnapshot['phase'];
  readonly stage: string;
  readonly outputs: readonly string[];
  readonly pids: readonly number[];
  /** Pids of the model runners, by model node. */
  readonly modelPids: Readonly<Record<string, number>>;
}

/**
 * The app supervisor: turns the desired state's `apps` into running
 * instances (plan with {@link planApps}, then execute), one deployment per
 * instance at a time, each reporting its stages to the control plane. A
 * redeploy starts the new revision beside the old one and stops the old
 * processes only once the new ones run; a failed redeploy leaves the old
 * ones running.
 */
export class AppManager {
  private readonly instances = new Map<string, Instance>();
  private readonly cache: PackageCache;
  private closed = false;

  constructor(private readonly o: AppManagerOptions) {
    this.cache = new PackageCache(join(o.dataDir, 'packages'), o.key);
  }

  private instanceDir(id: string): string {
    return join(this.o.dataDir, 'apps', id);
  }

  snapshot(): InstanceSnapshot[] {
    return [...this.instances.values()].map((i) => ({
      instanceId: i.id,
      revision: i.revision,
      key: i.key,
      phase: i.phase,
      retry: i.retry,
      paused: i.runtime?.pausedCameras() ?? i.app.cameras.filter((c) => c.paused).map((c) => c.node),
    }));
  }

  list(): InstanceView[] {
    return [...this.instances.values()].map((i) => ({
      instanceId: i.id,
      app: i.app.app,
      revision: i.revision,
      phase: i.phase,
      stage: i.stage,
      outputs: i.app.outputs,
      pids: i.runtime?.nodePids() ?? [],
      modelPids: i.runtime?.modelPids() ?? {},
    }));
  }

  /**
   * Lets the next plan retry these instances if their deployment failed (the
   * planner retries a failed instance only for a newer revision): used for
   * instances started from the agent's own copy of the last desired state,
   * whose failures may only be the control plane's absence.
   */
  retryFailed(ids: ReadonlySet<string>): void {
    for (const inst of this.instances.values()) if (ids.has(inst.id) && inst.phase === 'failed') inst.retry = true;
  }

  /** Plans and starts the steps toward `desired`; deployments run in the background. Returns the steps. */
  async apply(desired: readonly DesiredApp[], integrity: IntegrityState): Promise<AppStep[]> {
    if (this.closed) return [];
    const steps = planApps({ integrity, instances: this.snapshot() }, desired);
    for (const step of steps) await this.execute(step);
    return steps;
  }

  private async execute(step: AppStep): Promise<void> {
    switch (step.kind) {
      case 'deploy': {
        const inst = this.instances.get(step.app.instanceId) ?? (await this.create(step.app));
        this.o.logger.info('deploying app', { instance: inst.id, revision: step.app.revision, reason: step.reason });
        await this.cancelDeploy(inst);
        inst.app = step.app;
        inst.revision = step.app.revision;
        inst.key = deploymentKey(step.app);
        inst.phase = 'deploying';
        inst.retry = false;
        this.report(inst, { stage: 'queued' });
        const ctl = new AbortController();
        inst.deploying = { ctl, done: this.deploy(inst, step.app, ctl.signal) };
        return;
      }
      case 'stop': {
        const inst = this.instances.get(step.instanceId);
        if (inst !== undefined) await this.enqueue(inst, () => this.stop(inst, step.reason));
        return;
      }
      case 'pause':
      case 'resume': {
        const inst = this.instances.get(step.instanceId);
        if (inst === undefined) return;
        await this.enqueue(inst, async () => {
          try {
            if (step.kind === 'pause') await inst.runtime?.pauseCamera(step.camera);
            else await inst.runtime?.resumeCamera(step.camera);
          } catch (err) {
            inst.log.line('error', `camera ${step.camera} could not be resumed: ${reportMessage(err)}`);
          }
        });
        return;
      }
      case 'adopt': {
        const inst = this.instances.get(step.app.instanceId);
        if (inst === undefined) return;
        inst.app = step.app;
        inst.revision = step.app.revision;
        if (inst.phase === 'running') this.reportRunning(inst);
        return;
      }
    }
  }

  private enqueue(inst: Instance, fn: () => Promise<void>): Promise<void> {
    const next = inst.ops.then(fn);
    inst.ops = next.catch(() => undefined);
    return next;
  }

  private async create(app: DesiredApp): Promise<Instance> {
    const dir = this.instanceDir(app.instanceId);
    await passThroughDirs(this.o.dataDir, dir);
    const log = await AppLog.open(join(dir, 'spool'), this.o.key, app.instanceId, this.o.clock);
    const stopLog = new AbortController();
    const inst: Instance = {
      id: app.instanceId,
      app,
      revision: app.revision,
      key: deploymentKey(app),
      phase: 'deploying',
      retry: false,
      stage: 'queued',
      runtime: undefined,
      runDir: undefined,
      deploying: undefined,
      ops: Promise.resolve(),
      reporter: new StatusReporter({
        send: (r, signal) => this.o.client().reportAppStatus(app.instanceId, r, signal),
        clock: this.o.clock,
        ...(this.o.reportIntervalMs === undefined ? {} : { minIntervalMs: this.o.reportIntervalMs }),
        onError: (err) => this.o.logger.debug('app status report failed', { instance: app.instanceId, code: reportCode(err) }),
      }),
      log,
      stopLog,
      logLoop: log.run(this.o.client, stopLog.signal),
      statusLoop: undefined,
    };
    this.instances.set(inst.id, inst);
    return inst;
  }

  private report(inst: Instance, p: Progress): void {
    const changed = inst.stage !== p.stage;
    inst.stage = p.stage;
    inst.reporter.set({ revision: inst.revision, ...p });
    if (changed) this.o.onStage?.();
  }

  private reportRunning(inst: Instance): void {
    const rt = inst.runtime;
    if (rt === undefined) return;
    this.report(inst, { stage: 'running', ...rt.status() });
  }

  private async cancelDeploy(inst: Instance): Promise<void> {
    const d = inst.deploying;
    if (d === undefined) return;
    d.ctl.abort();
    await d.done;
  }

  private async deploy(inst: Instance, app: DesiredApp, signal: AbortSignal): Promise<void> {
    try {
      const deployed = await deployApp(
        app,
        {
          client: this.o.client,
          cache: this.cache,
          runRoot: this.o.runRoot,
          instanceDir: this.instanceDir(app.instanceId),
          appsKey: this.o.key,
          clock: this.o.clock,
          progress: (p) => {
            if (!signal.aborted) this.report(inst, p);
          },
          runtime: {
            launcher: this.o.launcher,
            hub: this.o.hub,
            clock: this.o.clock,
            log: inst.log,
            credentials: (cameraId, s) => this.o.client().cameraCredentials(cameraId, s),
            ffmpegPath: this.o.ffmpegPath,
            onChange: () => {
              if (inst.phase === 'running') this.reportRunning(inst);
            },
            ...(this.o.cameraBackoff === undefined ? {} : { cameraBackoff: this.o.cameraBackoff }),
            ...(this.o.startModel === undefined ? {} : { startModel: this.o.startModel }),
          },
        },
        signal,
      );
      if (signal.aborted) {
        await deployed.runtime.stop();
        await rm(deployed.runDir, { recursive: true, force: true });
        return;
      }
      const old = { runtime: inst.runtime, runDir: inst.runDir, outputs: inst.runtime?.prepared.app.outputs ?? [] };
      this.o.hub.register(app.instanceId, app.outputs);
      inst.runtime = deployed.runtime;
      inst.runDir = deployed.runDir;
      // The new processes run: now the old ones go (issue 6: a redeploy stops the old after the new start OK).
      if (old.runtime !== undefined) {
        await old.runtime.stop();
        await rm(old.runDir ?? '', { recursive: true, force: true });
        this.o.hub.unregister(
          app.instanceId,
          old.outputs.filter((n) => !app.outputs.includes(n)),
        );
      }
      inst.phase = 'running';
      // Pauses that arrived while it was deploying.
      for (const cam of inst.app.cameras) {
        if (cam.paused) await deployed.runtime.pauseCamera(cam.node);
        else await deployed.runtime.resumeCamera(cam.node);
      }
      this.o.logger.info('app running', { instance: inst.id, revision: inst.revision });
      inst.log.line('info', `revision ${inst.revision} running`);
      this.reportRunning(inst);
      this.startStatusLoop(inst);
    } catch (err) {
      if (signal.aborted) return; // superseded or stopped: whoever cancelled reports
      inst.phase = 'failed';
      const code = reportCode(err);
      const message = reportMessage(err);
      this.o.logger.warn('app deployment failed', { instance: inst.id, revision: app.revision, code });
      inst.log.line('error', `revision ${app.revision} failed: ${code}: ${message}`);
      this.report(inst, { stage: 'failed', code, message });
    } finally {
      if (inst.deploying?.ctl.signal === signal) inst.deploying = undefined;
    }
  }

  private startStatusLoop(inst: Instance): void {
    if (inst.statusLoop !== undefined) return;
    const ctl = new AbortController();
    inst.statusLoop = ctl;
    void (async () => {
      while (!ctl.signal.aborted) {
        await this.o.clock.sleep(this.o.statusIntervalMs ?? 10_000, ctl.signal);
        if (!ctl.signal.aborted && inst.phase === 'running') this.reportRunning(inst);
      }
    })();
  }

  private async stop(inst: Instance, reason: string): Promise<void> {
    this.o.logger.info('stopping app', { instance: inst.id, reason });
    await this.cancelDeploy(inst);
    inst.statusLoop?.abort();
    inst.statusLoop = undefined;
    const outputs = inst.runtime?.prepared.app.outputs ?? inst.app.outputs;
    await inst.runtime?.stop();
    this.o.hub.unregister(inst.id, outputs);
    if (inst.runDir !== undefined) await rm(inst.runDir, { recursive: true, force: true });
    await rm(join(this.o.runRoot, inst.id), { recursive: true, force: true });
    inst.runtime = undefined;
    inst.runDir = undefined;
    inst.phase = 'failed';
    inst.log.line('info', `stopped (${reason})`);
    this.report(
      inst,
      reason === 'integrity compromised'
        ? { stage: 'stopped', code: 'INTEGRITY_COMPROMISED', message: 'Stopped: the agent failed its integrity check.' }
        : { stage: 'stopped' },
    );
    this.instances.delete(inst.id);
    this.o.onStage?.();
    await Promise.race([inst.reporter.flushed(), this.o.clock.sleep(5000)]);
    inst.reporter.close();
    inst.stopLog.abort();
    await inst.logLoop;
    await inst.log.ship(this.o.client()).catch(() => undefined);
    // A removed instance takes its data with it (storage, sealed stores, logs already shipped).
    if (reason === 'removed') {
      for (const { node } of inst.app.code) {
        const storageDir = nodeStorageDir(this.instanceDir(inst.id), node);
        await this.o.launcher
          .discardStorage?.({ instance: inst.id, node, storageDir })
          .catch((err: unknown) =>
            this.o.logger.error('app storage could not be discarded', { instance: inst.id, node, error: reportMessage(err) }),
          );
      }
      await rm(this.instanceDir(inst.id), { recursive: true, force: true });
    }
  }

  /** Stops every instance (the agent is stopping); nothing is reported as removed. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.instances.values()].map(async (inst) => {
        await this.cancelDeploy(inst);
        inst.statusLoop?.abort();
        await inst.runtime?.stop();
        this.o.hub.unregister(inst.id, inst.app.outputs);
        await rm(join(this.o.runRoot, inst.id), { recursive: true, force: true });
        inst.reporter.close();
        inst.stopLog.abort();
        await inst.logLoop;
        await inst.log.flush().catch(() => undefined);
      }),
    );
    this.instances.clear();
  }
}

/** Makes the folder for plaintext run copies and empties what an earlier run (a crash) left there. */
export async function prepareRunRoot(runRoot: string): Promise<void> {
  await rm(runRoot, { recursive: true, force: true });
  await passThroughDirs(runRoot, runRoot);
}
