import { createHash, hkdfSync } from 'node:crypto';
import { access, chmod, constants, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { appsApi } from '@sightline/protocol';
import { findFfmpeg } from '../camera/decoder.js';
import type { Clock } from '../clock.js';
import type { DeviceClient } from '../client/device-client.js';
import type { IntegrityState } from '../integrity/monitor.js';
import type { AgentLogger } from '../logs/logger.js';
import { loadOrCreateLocalAccess } from '../output/access.js';
import { OutputHub } from '../output/hub.js';
import { JpegEncoder } from '../output/jpeg.js';
import { PreviewRelay } from '../output/preview.js';
import { DEFAULT_LOCAL_PORT, LocalOutputServer } from '../output/server.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { RECORD, type AppsStatusRecord } from '../storage/records.js';
import type { EncryptedStore } from '../storage/store.js';
import { permissionModelLauncher, type NodeLauncher } from './launcher.js';
import { AppManager, prepareRunRoot } from './manager.js';
import type { DesiredApp } from './planner.js';

/** Where plaintext package copies go by default: systemd's /run is a tmpfs, so they never reach a disk. */
export const DEFAULT_RUN_BASE = '/run/sightline-agent';

/** The 32-byte key of the app side (package cache, app stores, app log spools), derived from the root key (RFC 5869). */
export function deriveAppsKey(rootKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'sightline-agent/apps/v1', 32));
}

export interface AppServiceOptions {
  readonly dataDir: string;
  readonly key: Uint8Array;
  readonly store: EncryptedStore;
  readonly client: () => DeviceClient;
  readonly clock: Clock;
  readonly logger: AgentLogger;
  /** Plaintext run copies; default /run/sightline-agent/<id> (a tmpfs) when writable, else <dataDir>/run (wiped at start and stop). */
  readonly runRoot?: string | undefined;
  /** The local MJPEG/status server; `false` turns it off. Default port 8443 on every interface. */
  readonly local?: { readonly port?: number; readonly host?: string } | false | undefined;
  /** Test hook: launch nodes without the sandbox. */
  readonly launcher?: NodeLauncher | undefined;
}

async function writable(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The app side of a running agent: the sandbox (or Node's permission model
 * alone where the sandbox cannot be set up, which the isolation report says),
 * the app manager, and the local HTTPS server for the outputs.
 */
export class AppService {
  private desired: readonly DesiredApp[] = [];
  private applying: Promise<unknown> = Promise.resolve();
  /** Instances started by {@link resume} that no desired state from the control plane has confirmed yet. */
  private readonly provisional = new Set<string>();

  private statusTimer: NodeJS.Timeout | undefined;
  private statusWrite: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly manager: AppManager,
    readonly isolation: appsApi.IsolationReport | undefined,
    readonly server: LocalOutputServer | undefined,
    /** Output previews for the console (issue 8); undefined without ffmpeg. */
    readonly previews: PreviewRelay | undefined,
    private readonly o: Pick<AppServiceOptions, 'store' | 'clock' | 'logger'>,
  ) {}

  static async start(o: AppServiceOptions): Promise<AppService> {
    let launcher = o.launcher;
    let isolation: appsApi.IsolationReport | undefined;
    if (launcher === undefined) {
      try {
        const sandbox = await Sandbox.create({ stateDir: join(o.dataDir, 'sandbox'), clock: o.clock });
        launcher = sandbox;
        isolation = sandbox.report;
      } catch (err) {
        o.logger.error('the app sandbox could not be set up; apps run under Node’s permission model only', {
          error: err instanceof Error ? err.message : String(err),
        });
        launcher = permissionModelLauncher(o.clock);
      }
    }
    // One folder per data folder, so two agents on one machine (tests) never empty each other's.
    let runRoot = o.runRoot ?? join(DEFAULT_RUN_BASE, createHash('sha256').update(resolve(o.dataDir)).digest('hex').slice(0, 16));
    if (o.runRoot === undefined && !(await writable(runRoot))) runRoot = join(o.dataDir, 'run');
    await prepareRunRoot(runRoot);
    // The app's own uid passes through the folder above too (0711: no listing); mkdir made it 0700.
    if (o.runRoot === undefined) await chmod(dirname(runRoot), 0o711);
    const hub = new OutputHub();
    const ffmpegPath = findFfmpeg();
    // The service is made below; until then a stage change has nobody to tell.
    const stage = { changed: (): void => undefined };
    const manager = new AppManager({
      onStage: () => stage.changed(),
      client: o.client,
      clock: o.clock,
      logger: o.logger,
      dataDir: o.dataDir,
      runRoot,
      key: o.key,
      launcher,
      hub,
      ffmpegPath,
    });
    let server: LocalOutputServer | undefined;
    if (o.local !== false && ffmpegPath !== undefined) {
      const access = await loadOrCreateLocalAccess(o.store, o.clock.now());
      try {
        server = await LocalOutputServer.start({
          port: o.local?.port ?? DEFAULT_LOCAL_PORT,
          ...(o.local?.host === undefined ? {} : { host: o.local.host }),
          certPem: access.certPem,
          keyPem: access.keyPem,
          token: access.token,
          hub,
          ffmpegPath,
        });
        o.logger.info('local output server listening', { port: server.port, certSha256: access.certSha256 });
      } catch (err) {
        o.logger.error('the local output server could not start', { error: err instanceof Error ? err.message : String(err) });
      }
    }
    const previews =
      ffmpegPath === undefined
        ? undefined
        : new PreviewRelay({
            hub,
            encoder: () => new JpegEncoder(ffmpegPath),
            openPush: (id, signal) => o.client().pushPreview(id, signal),
            logger: o.logger,
          });
    const service = new AppService(manager, isolation, server, previews, o);
    stage.changed = () => service.stageChanged();
    return service;
  }

  /** Writes the instances and their stages for `sightline-agent status` soon (changes within 300 ms go together). */
  private stageChanged(): void {
    if (this.closed || this.statusTimer !== undefined) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      void this.writeStatus();
    }, 300);
    this.statusTimer.unref();
  }

  private writeStatus(): Promise<void> {
    const record: AppsStatusRecord = {
      v: 1,
      updatedAt: new Date(this.o.clock.now()).toISOString(),
      apps: this.manager
        .list()
        .slice(0, 256)
        .map((i) => ({ instanceId: i.instanceId, app: i.app, revision: i.revision, stage: i.stage })),
    };
    this.statusWrite = this.statusWrite
      .then(() => this.o.store.writeJson(RECORD.appsStatus, record))
      .catch((err: unknown) =>
        this.o.logger.error('cannot write the apps status', { error: err instanceof Error ? err.message : String(err) }),
      );
    return this.statusWrite;
  }

  /** Reconciles the apps (serialised: one plan at a time). `desired` undefined re-plans the last desired state (integrity changed). */
  apply(integrity: IntegrityState, desired?: readonly DesiredApp[]): Promise<void> {
    return this.plan(integrity, desired, desired !== undefined);
  }

  /**
   * Starts the apps of the last desired state the agent applied (sealed in
   * its store) when it starts before reaching the control plane: apps keep
   * running through an outage and a reboot. Every package is verified again
   * from the cache before it runs, as in any deployment; a camera whose
   * credentials cannot be fetched waits (reconnecting) until the control
   * plane answers, and the first desired state from it retries any instance
   * whose deployment failed meanwhile.
   */
  resume(integrity: IntegrityState, last: readonly DesiredApp[]): Promise<void> {
    for (const a of last) this.provisional.add(a.instanceId);
    return this.plan(integrity, last, false);
  }

  private plan(integrity: IntegrityState, desired: readonly DesiredApp[] | undefined, fromControlPlane: boolean): Promise<void> {
    if (desired !== undefined) this.desired = desired;
    const next = this.applying.then(() => {
      if (fromControlPlane && this.provisional.size > 0) {
        // The control plane answered: what failed while it could not be reached goes again.
        this.manager.retryFailed(this.provisional);
        this.provisional.clear();
      }
      return this.manager.apply(this.desired, integrity);
    });
    this.applying = next.catch(() => undefined);
    return next.then(() => undefined);
  }

  /** Stops everything; a second call (the agent's shutdown after a reset already closed it) does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.previews?.close();
    await this.applying;
    await this.manager.close();
    // The last word, before a reset may erase the store: nothing runs now.
    this.closed = true;
    clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    await this.writeStatus();
    await this.server?.close();
  }
}
