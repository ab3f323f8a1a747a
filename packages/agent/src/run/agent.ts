import type { Clock, Random } from '../clock.js';
import { Backoff } from '../client/backoff.js';
import { DeviceClient, type DesiredState, type Heartbeat } from '../client/device-client.js';
import type { Fetcher, TlsIdentity } from '../client/fetcher.js';
import { AgentError, isIdentityRefused, isTransient } from '../errors.js';
import { renewIdentity, renewalDue, tlsIdentityOf } from '../identity/renewal.js';
import type { IntegrityMonitor } from '../integrity/monitor.js';
import type { AgentLogger } from '../logs/logger.js';
import { LogShipper } from '../logs/shipper.js';
import { LogSpool } from '../logs/spool.js';
import { Executor } from '../reconcile/executor.js';
import { plan, type CurrentState } from '../reconcile/planner.js';
import type { Runtime } from '../reconcile/runtime.js';
import { fullReset } from '../reset/reset.js';
import { layout } from '../storage/data-dir.js';
import { acquireLock } from '../storage/lock.js';
import {
  RECORD,
  agentState,
  emptyState,
  identityRecord,
  lastAppsRecord,
  type AgentState,
  type AgentStatus,
  type IdentityRecord,
  type LastAppsRecord,
} from '../storage/records.js';
import { RootKeyManager, type RootKeyProtection } from '../storage/root-key.js';
import { EncryptedStore } from '../storage/store.js';
import type { Tpm } from '../storage/tpm.js';
import { AGENT_VERSION } from '../version.js';
import { hostMetrics } from './metrics.js';
import { isRegistered } from '../identity/register.js';
import { AppService, deriveAppsKey } from '../apps/service.js';
import type { NodeLauncher } from '../apps/launcher.js';
import type { DesiredApp } from '../apps/planner.js';
import { writeFileAtomic } from '../storage/atomic.js';
import { UpdateJobs } from '../update/jobs.js';

export interface AgentConfig {
  dataDir: string;
  /** Heartbeat period (issue 5: 30 s). */
  heartbeatIntervalMs: number;
  /** Long-poll wait the agent asks for (≤ 60 s; 30 s by default). */
  pollWaitSeconds: number;
  /** Integrity re-check period (hourly). */
  integrityIntervalMs: number;
  spoolQuotaBytes: number;
  backoff: { baseMs: number; maxMs: number };
  /** How often an idle log shipper looks at the spool. */
  logIdleMs: number;
  /** Apps (issue 6): plaintext run folder (default a tmpfs under /run) and the local output server (false: off; port 8443). */
  apps?: { runRoot?: string; local?: { port?: number; host?: string } | false } | undefined;
  /** Set by the launcher (issue 7): where to report healthy, and the A/B install root. */
  healthFile?: string | undefined;
  slotsDir?: string | undefined;
}

export const DEFAULT_AGENT_CONFIG: Omit<AgentConfig, 'dataDir'> = Object.freeze({
  heartbeatIntervalMs: 30_000,
  pollWaitSeconds: 30,
  integrityIntervalMs: 3_600_000,
  spoolQuotaBytes: 256 * 1024 * 1024,
  backoff: Object.freeze({ baseMs: 1_000, maxMs: 60_000 }),
  logIdleMs: 2_000,
});

export interface AgentDeps {
  clock: Clock;
  random: Random;
  runtime: Runtime;
  tpm: Tpm;
  fetcherFactory: (identity: TlsIdentity) => Fetcher;
  /** Launches app nodes; default the sandbox (tests pass permissionModelLauncher()). */
  appLauncher?: NodeLauncher;
  integrity: IntegrityMonitor;
  logger: AgentLogger;
}

export type AgentExit =
  | { reason: 'stopped' }
  /** The control plane refused this device's identity (revoked, deregistered…): reset and provision again. */
  | { reason: 'refused'; code: string; message: string }
  /** A remote reset job ran: the data folder is wiped and the agent unprovisioned. */
  | { reason: 'reset' }
  /** An update is installed on trial: the launcher boots it when this process exits. */
  | { reason: 'update' };

/**
 * The appliance agent (issue 5, "Agent core"): long-polls its desired state
 * and reconciles it, heartbeats, renews its certificate, ships its log, and
 * re-checks its own integrity. Any network fault is retried with backoff and
 * jitter while the device keeps running its current state.
 */
export class Agent {
  private readonly controller = new AbortController();
  private readonly client: DeviceClient;
  private readonly executor: Executor;
  private readonly updates: UpdateJobs;
  private healthWritten = false;
  private readonly startedAt: number;
  private exit: AgentExit | undefined;
  private online = false;
  private lastContactAt: number | undefined;
  private lastError: { code: string; message: string; at: string } | undefined;
  private appliedEtag: string | undefined;
  private heartbeatWake = new AbortController();
  /** Set when something the control plane must hear about now changed (integrity); cleared by each beat. */
  private heartbeatDue = false;
  private backgroundLoops: Promise<void>[] = [];
  private wiped = false;
  /** The etag of the desired state whose apps are in the last-apps record (not written again for the same). */
  private savedAppsEtag: string | undefined;
  private apps: AppService | undefined;
  private stateChain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly config: AgentConfig,
    private readonly deps: AgentDeps,
    private identity: IdentityRecord,
    private readonly store: EncryptedStore,
    private readonly spool: LogSpool,
    private readonly protection: RootKeyProtection,
    private readonly releaseLock: () => Promise<void>,
    private readonly appsKey: Buffer,
  ) {
    this.startedAt = deps.clock.now();
    this.client = new DeviceClient(deps.fetcherFactory(tlsIdentityOf(identity)));
    this.updates = new UpdateJobs({
      store,
      slotsDir: config.slotsDir,
      openFetcher: () => deps.fetcherFactory(tlsIdentityOf(this.identity)),
      agentVersion: AGENT_VERSION,
      clock: deps.clock,
      logger: deps.logger,
    });
    this.executor = new Executor({
      client: () => this.client,
      runtime: deps.runtime,
      logger: deps.logger,
      updateState: (fn) => this.updateState(fn),
      fullReset: () => this.resetFromJob(),
      now: () => deps.clock.now(),
      update: this.updates,
    });
  }

  /** Opens a registered data folder: takes its lock, unseals the root key, reads identity and state. */
  static async open(config: AgentConfig, deps: AgentDeps): Promise<Agent> {
    const paths = layout(config.dataDir);
    if (!isRegistered(paths.root)) {
      throw new AgentError(
        'NOT_REGISTERED',
        `No registered agent in ${paths.root}; run sightline-agent register --archive FILE --data-dir ${paths.root} first.`,
      );
    }
    const release = await acquireLock(paths.root);
    try {
      const root = await new RootKeyManager(paths.root, deps.tpm).load();
      const store = new EncryptedStore(paths.store, root.key);
      const identity = await store.readJson(RECORD.identity, identityRecord);
      if (identity === undefined) throw new AgentError('NOT_REGISTERED', 'The identity record is missing.');
      const state = (await store.readJson(RECORD.state, agentState)) ?? emptyState();
      if (state.refused !== undefined) {
        throw new AgentError(
          'DEVICE_REFUSED',
          `The control plane refused this device (${state.refused.code}) at ${state.refused.at}: ${state.refused.message} Run sightline-agent reset --full --data-dir ${paths.root} and provision the device again.`,
          { details: { code: state.refused.code } },
        );
      }
      const spool = await LogSpool.open(paths.spool, root.key, config.spoolQuotaBytes);
      const appsKey = deriveAppsKey(root.key);
      root.key.fill(0);
      deps.logger.attachSpool(spool);
      if (root.meta.protection === 'key-file')
        deps.logger.warn('root key kept in a key file, not a TPM: agent state is only as safe as the disk');
      return new Agent(config, deps, identity, store, spool, root.meta.protection, release, appsKey);
    } catch (err) {
      await release();
      throw err;
    }
  }

  get device(): string {
    return this.identity.device;
  }

  /** Asks the agent to stop; `run` resolves once every loop has ended. */
  stop(): void {
    this.finish({ reason: 'stopped' });
  }

  private finish(exit: AgentExit): void {
    this.exit ??= exit;
    this.controller.abort();
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The apps of the last desired state applied; none when the record is missing or unreadable (an agent that cannot read it starts none). */
  private async lastApps(): Promise<readonly DesiredApp[]> {
    try {
      const r = await this.store.readJson(RECORD.lastApps, lastAppsRecord);
      this.savedAppsEtag = r?.etag;
      return r?.apps ?? [];
    } catch (err) {
      this.deps.logger.warn('the last desired apps could not be read; waiting for the control plane', {
        error: err instanceof Error ? err.message : String(err),
      });
      return [];
    }
  }

  // --- persisted state: serialised, so two loops never interleave a read-modify-write.
  private loadState(): Promise<AgentState> {
    return this.store.readJson(RECORD.state, agentState).then((s) => s ?? emptyState());
  }

  /**
   * Read, change and write the state as one step of the chain, so that two
   * loops (the poll loop's reconcile, the heartbeat's refusal) never write
   * back a state read before the other's change.
   */
  private updateState(fn: (state: AgentState) => void): Promise<void> {
    const next = this.stateChain.then(async () => {
      if (this.wiped) return;
      const state = await this.loadState();
      fn(state);
      await this.store.writeJson(RECORD.state, state);
    });
    this.stateChain = next.catch(() => undefined);
    return next;
  }

  private async writeStatus(stopped?: string): Promise<void> {
    if (this.wiped) return;
    const now = new Date(this.deps.clock.now()).toISOString();
    const integrity = this.deps.integrity.status();
    const status: AgentStatus = {
      v: 1,
      pid: process.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      updatedAt: now,
      online: this.online,
      ...(this.lastContactAt === undefined ? {} : { lastContactAt: new Date(this.lastContactAt).toISOString() }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      integrity: {
        state: integrity.state,
        ...(integrity.detail === undefined ? {} : { detail: integrity.detail }),
        ...(integrity.checkedAt === undefined ? {} : { checkedAt: integrity.checkedAt }),
      },
      logSpool: { bytes: this.spool.bytes, dropped: this.spool.dropped },
      ...(stopped === undefined ? {} : { stopped }),
    };
    await this.store
      .writeJson(RECORD.status, status)
      .catch((err: unknown) => this.deps.logger.error('cannot write status', { error: String(err) }));
  }

  private markOnline(): void {
    this.lastContactAt = this.deps.clock.now();
    if (!this.healthWritten && this.config.healthFile !== undefined) {
      // Issue 7: the launcher commits a release on trial once its agent has reached the control plane.
      this.healthWritten = true;
      void writeFileAtomic(
        this.config.healthFile,
        Buffer.from(JSON.stringify({ pid: process.pid, version: AGENT_VERSION, at: new Date(this.lastContactAt).toISOString() })),
        0o644,
      ).catch((err: unknown) => this.deps.logger.error('cannot write the health report', { error: String(err) }));
    }
    if (!this.online) {
      this.online = true;
      this.lastError = undefined;
      this.deps.logger.info('connected to the control plane', { url: this.identity.controlPlane.url });
      void this.writeStatus();
    }
  }

  private markOffline(err: unknown): void {
    const code = (err as { code?: string }).code ?? 'UNEXPECTED';
    const message = err instanceof Error ? err.message : String(err);
    const changed = this.online || this.lastError?.code !== code;
    this.online = false;
    this.lastError = { code, message: message.slice(0, 500), at: new Date(this.deps.clock.now()).toISOString() };
    if (changed) {
      // A pinned-certificate mismatch is an attack or a misconfiguration: say so loudly.
      this.deps.logger.log(
        code === 'SERVER_PIN_MISMATCH' || code === 'SERVER_UNTRUSTED' ? 'error' : 'warn',
        'control plane unavailable; retrying with backoff',
        { code, message },
      );
      void this.writeStatus();
    }
  }

  /** The control plane refused our identity: record it (so `start` refuses too), stop everything. */
  private async refuse(err: { code: string; message: string }): Promise<void> {
    if (this.exit !== undefined) return;
    this.deps.logger.error('the control plane refused this device; stopping. A full reset is required.', { code: err.code });
    await this.updateState((state) => {
      state.refused = { code: err.code, message: err.message.slice(0, 500), at: new Date(this.deps.clock.now()).toISOString() };
    });
    this.finish({ reason: 'refused', code: err.code, message: err.message });
  }

  /** Runs until stopped, refused or reset. */
  async run(): Promise<AgentExit> {
    const integrity = this.deps.integrity;
    integrity.onChange((s) => {
      this.deps.logger.log(s.state === 'compromised' ? 'error' : s.state === 'unchecked' ? 'warn' : 'info', `integrity ${s.state}`, {
        detail: s.detail,
      });
      // Tell the control plane now, not at the next beat (even if a beat is in flight with the old state).
      this.heartbeatDue = true;
      this.heartbeatWake.abort();
      // Seed point 13: a compromised agent stops its apps now, not at the next desired state.
      void this.apps?.apply(s.state).catch((err: unknown) => this.deps.logger.error('stopping apps failed', { error: String(err) }));
      if (s.state === 'compromised') this.apps?.previews?.apply([]);
    });
    await integrity.check();
    try {
      this.apps = await AppService.start({
        dataDir: this.config.dataDir,
        key: this.appsKey,
        store: this.store,
        client: () => this.client,
        clock: this.deps.clock,
        logger: this.deps.logger,
        runRoot: this.config.apps?.runRoot,
        local: this.config.apps?.local,
        launcher: this.deps.appLauncher,
      });
    } catch (err) {
      // The agent core (heartbeats, jobs, updates) must keep working: it is how the device is repaired.
      this.deps.logger.error('apps cannot run on this agent', { error: err instanceof Error ? err.message : String(err) });
    }
    this.deps.logger.info('agent started', { version: AGENT_VERSION, device: this.identity.device, rootKey: this.protection });
    await this.writeStatus();
    // Apps keep running through an outage: the apps of the last desired state start now, not when the control plane answers.
    const lastApps = await this.lastApps();
    if (this.apps !== undefined && lastApps.length > 0) {
      this.deps.logger.info('starting the apps of the last desired state', { apps: lastApps.length });
      void this.apps
        .resume(this.deps.integrity.status().state, lastApps)
        .catch((err: unknown) =>
          this.deps.logger.error('starting the last apps failed', { error: err instanceof Error ? err.message : String(err) }),
        );
    }

    this.backgroundLoops = [
      this.guard('heartbeat', this.heartbeatLoop()),
      this.guard('logs', this.logLoop()),
      this.guard('integrity', integrity.run(this.signal)),
      this.guard('log-flush', this.deps.logger.run(this.signal)),
    ];
    let failure: unknown;
    try {
      await this.guard('poll', this.pollLoop());
    } catch (err) {
      failure = err;
    }
    const loops = await Promise.allSettled(this.backgroundLoops);
    await this.apps?.close().catch((err: unknown) => this.deps.logger.error('stopping apps failed', { error: String(err) }));
    failure ??= loops.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason;

    if (!this.wiped) {
      await this.deps.logger.flush().catch(() => undefined);
      await this.writeStatus(failure === undefined ? (this.exit?.reason ?? 'stopped') : 'failed');
    }
    this.client.close();
    await this.releaseLock();
    // systemd restarts it (Restart=on-failure).
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error('an agent loop failed', { cause: failure });
    return this.exit ?? { reason: 'stopped' };
  }

  /** A loop that throws something unexpected takes the agent down (systemd restarts it) instead of dying silently. */
  private async guard(name: string, loop: Promise<void>): Promise<void> {
    try {
      await loop;
    } catch (err) {
      if (isIdentityRefused(err)) return this.refuse(err);
      this.deps.logger.error('agent loop failed', { loop: name, error: err instanceof Error ? err.message : String(err) });
      this.finish({ reason: 'stopped' });
      throw err;
    }
  }

  private async pollLoop(): Promise<void> {
    const backoff = new Backoff({ ...this.config.backoff, random: this.deps.random });
    let etag: string | undefined; // none at start: the full state comes back and is reconciled (job results after a reboot)
    while (!this.signal.aborted) {
      try {
        const asked = this.deps.clock.now();
        const answer = await this.client.desiredState(etag, this.config.pollWaitSeconds, this.signal);
        this.markOnline();
        backoff.reset();
        if (!answer.changed) {
          // A server that answers 304 at once instead of waiting must not turn the poll into a busy loop.
          if (this.deps.clock.now() - asked < Math.min(1000, this.config.pollWaitSeconds * 500))
            await this.deps.clock.sleep(1000, this.signal);
          continue;
        }
        if (answer.state.device !== this.identity.device) {
          throw new AgentError('RESPONSE_INVALID', `The desired state is for "${answer.state.device}", not this device.`);
        }
        const outcome = await this.reconcile(answer.state);
        if (outcome === 'reset') return;
        if (outcome === 'restart') return this.finish({ reason: 'update' });
        etag = answer.state.etag;
      } catch (err) {
        if (this.signal.aborted) return;
        if (isIdentityRefused(err)) return this.refuse(err);
        if (isTransient(err)) this.markOffline(err);
        else
          this.deps.logger.error('reconciling the desired state failed; retrying', {
            code: (err as { code?: string }).code,
            error: err instanceof Error ? err.message : String(err),
          });
        await this.deps.clock.sleep(backoff.next(), this.signal);
      }
    }
  }

  private async reconcile(desired: DesiredState): Promise<'continue' | 'reset' | 'restart'> {
    const state = await this.loadState();
    const current: CurrentState = {
      integrity: this.deps.integrity.status().state,
      bootId: this.deps.runtime.bootId(),
      jobs: state.jobs,
      update: await this.updates.view(),
      runningApps: [],
      now: this.deps.clock.now(),
    };
    const steps = plan(current, desired);
    if (steps.length > 0) this.deps.logger.info('reconciling', { etag: desired.etag, steps: steps.map((s) => s.kind).join(',') });
    const outcome = await this.executor.execute(steps);
    if (outcome === 'reset') return 'reset';
    if (outcome === 'restart') return 'restart';
    // Deployments run in the background and report their own progress; this only plans and starts them.
    await this.apps?.apply(this.deps.integrity.status().state, desired.apps);
    // Issue 8: push exactly the output previews the control plane asks for now (none when compromised).
    this.apps?.previews?.apply(this.deps.integrity.status().state === 'compromised' ? [] : (desired.previews ?? []));
    this.appliedEtag = desired.etag;
    if (this.apps !== undefined && !this.wiped && this.savedAppsEtag !== desired.etag) {
      // Not fatal: without it the apps only wait for the control plane after a restart, as they did before it existed.
      await this.store
        .writeJson(RECORD.lastApps, { v: 1, etag: desired.etag, apps: desired.apps } satisfies LastAppsRecord)
        .then(() => (this.savedAppsEtag = desired.etag))
        .catch((err: unknown) =>
          this.deps.logger.error('the last desired apps could not be kept', { error: err instanceof Error ? err.message : String(err) }),
        );
    }
    await this.updateState((after) => {
      after.appliedEtag = desired.etag;
    });
    return 'continue';
  }

  /** The remote reset job: stop every other loop, then crypto-erase and wipe. */
  private async resetFromJob(): Promise<void> {
    this.finish({ reason: 'reset' });
    await Promise.allSettled(this.backgroundLoops);
    await this.apps?.close().catch(() => undefined); // nothing of an app may outlive the erase
    await this.deps.logger.flush().catch(() => undefined);
    await this.stateChain;
    this.wiped = true;
    const report = await fullReset(this.config.dataDir, this.deps.tpm);
    this.deps.logger.warn('full reset done: the root key is destroyed and the data folder wiped; the agent is unprovisioned', {
      rootKeyDestroyed: report.rootKeyDestroyed,
      detail: report.detail,
    });
  }

  async heartbeat(): Promise<Heartbeat> {
    const integrity = this.deps.integrity.status();
    const metrics = await hostMetrics(this.config.dataDir);
    const update = await this.updates.status().catch(() => undefined);
    return {
      agentVersion: AGENT_VERSION,
      uptimeSeconds: Math.max(0, Math.floor((this.deps.clock.now() - this.startedAt) / 1000)),
      integrity: {
        state: integrity.state,
        ...(integrity.detail === undefined ? {} : { detail: integrity.detail.slice(0, 512) }),
        ...(integrity.checkedAt === undefined ? {} : { checkedAt: integrity.checkedAt }),
      },
      rootKeyProtection: this.protection,
      ...metrics,
      logSpool: { bytes: this.spool.bytes, dropped: this.spool.dropped },
      ...(this.appliedEtag === undefined ? {} : { appliedStateEtag: this.appliedEtag.slice(0, 128) }),
      ...(update === undefined ? {} : { update }),
      ...(this.apps?.isolation === undefined ? {} : { isolation: this.apps.isolation }),
    };
  }

  private async heartbeatLoop(): Promise<void> {
    const backoff = new Backoff({ ...this.config.backoff, random: this.deps.random });
    while (!this.signal.aborted) {
      // ±10% at random: beats that a control-plane restart lined up (every agent reconnecting at
      // once) drift apart again instead of arriving together every interval for ever.
      let delay = this.config.heartbeatIntervalMs * (0.9 + 0.2 * this.deps.random());
      this.heartbeatDue = false;
      try {
        await this.maybeRenew();
        await this.client.heartbeat(await this.heartbeat(), this.signal);
        this.markOnline();
        backoff.reset();
        await this.writeStatus();
      } catch (err) {
        if (this.signal.aborted) return;
        if (isIdentityRefused(err)) return this.refuse(err);
        this.markOffline(err);
        delay = Math.min(delay, backoff.next());
      }
      if (this.heartbeatDue) continue; // changed while this beat was on its way
      this.heartbeatWake = new AbortController();
      await this.deps.clock.sleep(delay, AbortSignal.any([this.signal, this.heartbeatWake.signal]));
    }
  }

  /** Renews at two thirds of the certificate's life; a failure is retried at the next beat, a refusal stops the agent. */
  private async maybeRenew(): Promise<void> {
    const now = this.deps.clock.now();
    if (!renewalDue(this.identity, now)) return;
    this.deps.logger.info('renewing the device certificate', { expiresAt: this.identity.expiresAt });
    let next: IdentityRecord;
    try {
      next = await renewIdentity(this.client, this.identity, new Date(now));
    } catch (err) {
      if (isIdentityRefused(err)) throw err;
      this.deps.logger.warn('certificate renewal failed; retrying at the next heartbeat', {
        code: (err as { code?: string }).code,
        expiresAt: this.identity.expiresAt,
      });
      return;
    }
    await this.store.writeJson(RECORD.identity, next); // stored before use: a crash keeps the old, valid pair
    this.identity = next;
    this.client.replaceFetcher(this.deps.fetcherFactory(tlsIdentityOf(next)));
    this.deps.logger.info('device certificate renewed', { expiresAt: next.expiresAt });
  }

  private async logLoop(): Promise<void> {
    const shipper = new LogShipper({
      spool: this.spool,
      client: () => this.client,
      clock: this.deps.clock,
      backoff: new Backoff({ ...this.config.backoff, random: this.deps.random }),
      logger: this.deps.logger,
      idleMs: this.config.logIdleMs,
    });
    await shipper.run(this.signal);
  }
}
