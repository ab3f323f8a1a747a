import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { PackageSigningError } from '@sightline/core';
import { appManifestApi, type appsApi } from '@sightline/protocol';
import type { CameraRepository } from '../cameras/camera.repository.js';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../http/pipeline.js';
import type { Principal } from '../http/router.js';
import type { DeployablePackage, PackageService } from '../packages/package.service.js';
import type { Store } from '../storage/store.js';
import { AppError } from './app-errors.js';
import { ENDED_STAGES, type TIMED_STAGES, type AppRepository, type InstanceRow, type Stage } from './app.repository.js';

type DesiredApp = appsApi.DesiredApp;
type StageTimeouts = DesiredApp['stageTimeoutsSeconds'];

export const DEFAULT_STAGE_TIMEOUTS: StageTimeouts = { downloading: 600, verifying: 120, starting: 120 };
/** History entries kept per instance (the oldest go first). */
const MAX_HISTORY = 100;
/** Longest a describe long-poll waits. */
export const MAX_WAIT_SECONDS = 30;

export interface InstanceCameraRecord {
  node: string;
  cameraId: string;
  camera: string;
  paused: boolean;
}

interface HistoryEntry {
  stage: Stage;
  at: string;
  message?: string;
}

export interface AppView {
  instanceId: string;
  app: string;
  device: string;
  revision: number;
  stage: Stage;
  stageStartedAt: string;
  updatedAt: string;
  bytesDone?: number;
  bytesTotal?: number;
  code?: string;
  message?: string;
  history: HistoryEntry[];
  cameras: (InstanceCameraRecord & { state?: string; fps?: number; lastError?: string })[];
  nodes: { node: string; type: string; package?: string; version?: string; state?: string; restarts?: number; lastExit?: string; metrics?: Record<string, number> }[];
  /** Output node names (issue 8: what the console offers to preview). */
  outputs: string[];
  parameters: Record<string, Record<string, appsApi.ParameterValue>>;
  manifestSha256: string;
  replaces?: string;
  createdAt: string;
  createdBy: string;
}

/** The resolved app as stored with the instance. */
type Resolved = appManifestApi.ResolvedApp;

/** Where device long-polls learn that an instance changed (DeviceService implements it). */
export interface DeviceNotifier {
  notify(deviceId: string): void;
}

export interface DeployInput {
  manifest: unknown;
  device: string;
  overrides?: unknown;
  replace?: string | undefined;
}

const label = (p: Principal): string => `${p.type}:${p.name}`;

/** Parameter specs of a code descriptor (@sightline/sdk, already validated at push) as the resolver reads them. */
function codePorts(descriptor: unknown): appManifestApi.CodePorts {
  const d = descriptor as appManifestApi.CodePorts;
  return { inputs: d.inputs, outputs: d.outputs, models: d.models, parameters: d.parameters };
}

/**
 * App instances (issue 6 "Deployments"): deploy a manifest to a device,
 * follow its stages as the device reports them, time out stuck stages,
 * replace with rollback, pause and resume cameras, remove. Deploying binds
 * the instance's cameras to the device (seed point 18: only then may the
 * device read their credentials); an ended instance releases them.
 */
export class AppService {
  private readonly changes = new EventEmitter();

  constructor(
    private readonly store: Store,
    private readonly repo: AppRepository,
    private readonly packages: PackageService,
    private readonly cameras: CameraRepository,
    private readonly devices: DeviceNotifier,
    private readonly audit: AuditSink,
    private readonly clock: Clock,
    private readonly timeouts: StageTimeouts = DEFAULT_STAGE_TIMEOUTS,
  ) {
    this.changes.setMaxListeners(0);
  }

  private async device(project: string, name: string): Promise<{ id: string; name: string }> {
    const row = await this.store.db.selectFrom('devices').select(['id', 'name', 'state']).where('project', '=', project).where('name', '=', name).executeTakeFirst();
    if (row === undefined || row.state === 'deregistered') {
      throw new AppError('DEVICE_NOT_FOUND', `No device named "${name}" in project ${project} to deploy to; "sightline device ls" lists them.`, {
        details: { field: 'device' },
      });
    }
    return { id: row.id, name: row.name };
  }

  private async deviceNames(ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.store.db.selectFrom('devices').select(['id', 'name']).where('id', 'in', [...new Set(ids)]).execute();
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  private view(r: InstanceRow, device: string): AppView {
    const resolved = JSON.parse(r.resolved) as Resolved;
    const status = new Map((JSON.parse(r.camera_status) as appsApi.AppStatusReport['cameras'] & object).map((c) => [c.camera, c]));
    const nodeStatus = new Map((JSON.parse(r.node_status) as appsApi.AppStatusReport['nodes'] & object).map((n) => [n.node, n]));
    const cameras = (JSON.parse(r.cameras) as InstanceCameraRecord[]).map((c) => {
      const s = status.get(c.camera) ?? status.get(c.node);
      return { ...c, ...(s === undefined ? {} : { state: s.state, fps: s.fps, ...(s.lastError === undefined ? {} : { lastError: s.lastError }) }) };
    });
    const nodes = [
      ...resolved.code.map((c) => ({ node: c.node, type: 'code', package: c.package, version: c.version })),
      ...resolved.models.map((m) => ({ node: m.node, type: 'model', package: m.package, version: m.version })),
    ].map((n) => {
      const s = nodeStatus.get(n.node);
      return s === undefined ? n : { ...n, state: s.state, restarts: s.restarts, ...(s.lastExit === undefined ? {} : { lastExit: s.lastExit }), ...(s.metrics === undefined ? {} : { metrics: s.metrics }) };
    });
    return {
      instanceId: r.id,
      app: r.app,
      device,
      revision: r.revision,
      stage: r.stage,
      stageStartedAt: new Date(Number(r.stage_started_at)).toISOString(),
      updatedAt: new Date(Number(r.updated_at)).toISOString(),
      ...(r.bytes_done === null ? {} : { bytesDone: Number(r.bytes_done) }),
      ...(r.bytes_total === null ? {} : { bytesTotal: Number(r.bytes_total) }),
      ...(r.code === null ? {} : { code: r.code }),
      ...(r.message === null ? {} : { message: r.message }),
      history: JSON.parse(r.history) as HistoryEntry[],
      cameras,
      nodes,
      parameters: { ...resolved.parameters },
      outputs: [...resolved.outputs],
      manifestSha256: r.manifest_sha256,
      ...(r.replaces === null ? {} : { replaces: r.replaces }),
      createdAt: new Date(Number(r.created_at)).toISOString(),
      createdBy: r.created_by,
    };
  }

  private async viewOf(r: InstanceRow): Promise<AppView> {
    return this.view(r, (await this.deviceNames([r.device_id])).get(r.device_id) ?? '');
  }

  /** Strictly increasing per instance, so `since=<updatedAt>` never misses a change made in the same millisecond. */
  private stamp(r: InstanceRow): number {
    return Math.max(this.clock.now(), Number(r.updated_at) + 1);
  }

  private touched(r: InstanceRow): void {
    // After the commit: a waiter woken before it would read the old state and sleep again.
    this.store.afterCommit(() => {
      this.changes.emit(r.id);
      this.devices.notify(r.device_id);
    });
  }

  private async loadPackages(project: string, manifest: appManifestApi.AppManifest): Promise<Map<string, DeployablePackage | { packageExists: boolean }>> {
    const found = new Map<string, DeployablePackage | { packageExists: boolean }>();
    for (const node of manifest.nodes) {
      if (node.type !== 'code' && node.type !== 'model') continue;
      const key = `${node.package}@${node.version}`;
      if (!found.has(key)) found.set(key, await this.packages.deployable(project, node.package, node.version));
    }
    return found;
  }

  /**
   * Deploys a manifest: checks it against the registered package versions
   * and the project's cameras (MANIFEST_INVALID with the path of the fault;
   * nothing is written), records the instance as `queued`, binds its
   * cameras to the device and wakes the device's long-poll.
   */
  async deploy(caller: Principal, project: string, input: DeployInput): Promise<AppView> {
    const manifest = appManifestApi.parseManifest(input.manifest);
    const overrides = appManifestApi.parseOverrides(input.overrides);
    const device = await this.device(project, input.device);
    const packages = await this.loadPackages(project, manifest);
    const resolved = appManifestApi.resolveManifest(
      manifest,
      (name, version) => {
        const p = packages.get(`${name}@${version}`);
        if (p === undefined || !('kind' in p)) return { found: false, packageExists: p?.packageExists ?? false };
        return p.kind === 'code'
          ? { found: true, kind: 'code', descriptor: codePorts(p.descriptor) }
          : { found: true, kind: 'model', descriptor: p.descriptor as appsApi.ModelDescriptor };
      },
      overrides,
    );
    // Only packages signed by a key the project trusts deploy (the agent checks this again before it runs anything).
    const trusted = await this.packages.trustedKeyIds(project);
    manifest.nodes.forEach((node, i) => {
      if ((node.type !== 'code' && node.type !== 'model') || trusted.length === 0) return;
      const p = packages.get(`${node.package}@${node.version}`);
      if (p !== undefined && 'ref' in p && !trusted.includes(p.ref.signature.keyId)) {
        throw new PackageSigningError(
          'PACKAGE_SIGNER_UNTRUSTED',
          `${node.package}@${node.version} is signed by key ${p.ref.signature.keyId}, which the package policy does not list; push a version signed by a listed key.`,
          { details: { path: `nodes[${i}].package`, keyId: p.ref.signature.keyId } },
        );
      }
    });
    const cameras: InstanceCameraRecord[] = [];
    for (const c of resolved.cameras) {
      const row = await this.cameras.find(project, c.camera);
      if (row === undefined) {
        const fromOverride = overrides.cameras?.[c.node] !== undefined;
        const i = manifest.nodes.findIndex((n) => n.name === c.node);
        throw new appManifestApi.ManifestInvalidError(
          fromOverride ? `overrides.cameras.${c.node}` : `nodes[${i}].camera`,
          `no camera named "${c.camera}" in project ${project}; "sightline camera ls" lists them.`,
        );
      }
      cameras.push({ node: c.node, cameraId: row.id, camera: row.name, paused: false });
    }
    let replaces: InstanceRow | undefined;
    if (input.replace !== undefined) {
      replaces = await this.repo.find(project, input.replace);
      if (replaces === undefined) throw this.notFound(project, input.replace);
      if (replaces.device_id !== device.id || ENDED_STAGES.includes(replaces.stage)) {
        throw new AppError('APP_REPLACE_INVALID', `Instance ${input.replace} is not running on device ${device.name}; deploy without --replace.`, {
          details: { field: 'replace' },
        });
      }
    }
    const now = this.clock.now();
    const row: InstanceRow = {
      id: randomUUID(),
      project,
      app: manifest.name,
      device_id: device.id,
      revision: 1,
      stage: 'queued',
      stage_started_at: now,
      updated_at: now,
      bytes_done: null,
      bytes_total: null,
      code: null,
      message: null,
      history: JSON.stringify([{ stage: 'queued', at: new Date(now).toISOString(), ...(replaces === undefined ? {} : { message: `replaces ${replaces.id}` }) }]),
      cameras: JSON.stringify(cameras),
      camera_status: '[]',
      node_status: '[]',
      resolved: JSON.stringify(resolved),
      manifest: JSON.stringify(manifest),
      overrides: JSON.stringify(overrides),
      manifest_sha256: createHash('sha256').update(JSON.stringify({ manifest, overrides })).digest('hex'),
      replaces: replaces?.id ?? null,
      created_at: now,
      created_by: label(caller),
    };
    await this.repo.insert(row);
    for (const c of cameras) await this.cameras.bind(c.cameraId, device.id, now);
    this.touched(row);
    return this.view(row, device.name);
  }

  async list(project: string, device: string | undefined): Promise<AppView[]> {
    const deviceId = device === undefined ? undefined : (await this.device(project, device)).id;
    const rows = await this.repo.list(project, deviceId);
    const names = await this.deviceNames(rows.map((r) => r.device_id));
    return rows.map((r) => this.view(r, names.get(r.device_id) ?? ''));
  }

  private notFound(project: string, id: string): AppError {
    return new AppError('APP_NOT_FOUND', `No app instance ${id} in project ${project}; "sightline app ls" lists them.`);
  }

  private async get(project: string, id: string): Promise<InstanceRow> {
    const row = await this.repo.find(project, id);
    if (row === undefined) throw this.notFound(project, id);
    return row;
  }

  /** Describe; with `waitMs`, waits (at most 30 s) until the instance changed after `since`. */
  async describe(project: string, id: string, options: { waitMs?: number; since?: number; signal?: AbortSignal } = {}): Promise<AppView> {
    const deadline = Date.now() + Math.min(options.waitMs ?? 0, MAX_WAIT_SECONDS * 1000);
    for (;;) {
      const row = await this.get(project, id);
      const left = deadline - Date.now();
      if (options.since === undefined || Number(row.updated_at) > options.since || left <= 0 || options.signal?.aborted === true) return this.viewOf(row);
      // Wake on a change here, or re-read each second for changes made by another replica.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.changes.off(id, done);
          options.signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 1000));
        this.changes.once(id, done);
        options.signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Moves an instance to `stage`, with a history entry; ends, releases cameras and wakes waiters as needed. */
  private async transition(r: InstanceRow, stage: Stage, extra: { code?: string | null; message?: string | null } = {}): Promise<InstanceRow> {
    const at = this.stamp(r);
    const history = JSON.parse(r.history) as HistoryEntry[];
    history.push({ stage, at: new Date(at).toISOString(), ...(extra.message == null ? {} : { message: extra.message }) });
    const next: InstanceRow = {
      ...r,
      stage,
      stage_started_at: at,
      updated_at: at,
      history: JSON.stringify(history.slice(-MAX_HISTORY)),
      ...(extra.code === undefined ? {} : { code: extra.code }),
      ...(extra.message === undefined ? {} : { message: extra.message }),
    };
    await this.repo.update(r.id, {
      stage,
      stage_started_at: at,
      updated_at: at,
      history: next.history,
      code: next.code,
      message: next.message,
    });
    if (ENDED_STAGES.includes(stage)) await this.releaseCameras(next);
    this.touched(next);
    return next;
  }

  /** Unbinds the cameras of an ended instance that no other live instance on the device uses. */
  private async releaseCameras(r: InstanceRow): Promise<void> {
    const stillUsed = new Set(
      (await this.repo.active(r.device_id)).filter((o) => o.id !== r.id).flatMap((o) => (JSON.parse(o.cameras) as InstanceCameraRecord[]).map((c) => c.cameraId)),
    );
    for (const c of JSON.parse(r.cameras) as InstanceCameraRecord[]) {
      if (!stillUsed.has(c.cameraId)) await this.cameras.unbind(c.cameraId, r.device_id);
    }
  }

  /**
   * Ends a deployment that failed. A replacement that fails ends `rolled-back`:
   * the instance it was to replace was never touched and keeps running.
   */
  private async fail(r: InstanceRow, code: string, message: string): Promise<InstanceRow> {
    if (r.replaces !== null) {
      return this.transition(r, 'rolled-back', { code, message: `${message} The previous instance ${r.replaces} keeps running.` });
    }
    return this.transition(r, 'failed', { code, message });
  }

  async remove(caller: Principal, project: string, id: string): Promise<AppView> {
    const row = await this.get(project, id);
    if (ENDED_STAGES.includes(row.stage)) return this.viewOf(row);
    return this.viewOf(await this.transition(row, 'stopped', { message: `removed by ${label(caller)}` }));
  }

  /** Pauses or resumes one camera input of an instance (by camera or node name); a new revision goes to the device. */
  async setPaused(caller: Principal, project: string, id: string, camera: string, paused: boolean): Promise<AppView> {
    const row = await this.get(project, id);
    if (ENDED_STAGES.includes(row.stage)) {
      throw new AppError('APP_NOT_ACTIVE', `Instance ${id} has ended (${row.stage}); deploy it again to run it.`);
    }
    const cameras = JSON.parse(row.cameras) as InstanceCameraRecord[];
    const target = cameras.find((c) => c.camera === camera) ?? cameras.find((c) => c.node === camera);
    if (target === undefined) {
      throw new AppError('CAMERA_NOT_FOUND', `Instance ${id} reads no camera "${camera}" (it reads: ${cameras.map((c) => c.camera).join(', ')}).`, {
        details: { field: 'camera' },
      });
    }
    if (target.paused === paused) return this.viewOf(row);
    target.paused = paused;
    const at = this.stamp(row);
    const history = JSON.parse(row.history) as HistoryEntry[];
    history.push({ stage: row.stage, at: new Date(at).toISOString(), message: `camera ${target.camera} ${paused ? 'paused' : 'resumed'} by ${label(caller)}` });
    const next: InstanceRow = { ...row, cameras: JSON.stringify(cameras), revision: row.revision + 1, updated_at: at, history: JSON.stringify(history.slice(-MAX_HISTORY)) };
    await this.repo.update(row.id, { cameras: next.cameras, revision: next.revision, updated_at: at, history: next.history });
    this.touched(next);
    return this.viewOf(next);
  }

  /** Whether the instance runs on (or was deployed to) this device: its log stream may go to the instance's group. */
  async deployedTo(deviceId: string, id: string): Promise<boolean> {
    return (await this.repo.findForDevice(deviceId, id)) !== undefined;
  }

  /**
   * A device reports progress on one of its own instances. A report for
   * another revision (the device has not seen the latest change yet) or for
   * an ended instance is ignored.
   */
  async report(deviceId: string, id: string, report: appsApi.AppStatusReport): Promise<void> {
    const row = await this.repo.findForDevice(deviceId, id);
    if (row === undefined) throw new AppError('APP_NOT_FOUND', `No app instance ${id} on this device.`);
    if (report.revision !== row.revision || ENDED_STAGES.includes(row.stage)) return;
    const at = this.stamp(row);
    const facts: Partial<InstanceRow> = {
      updated_at: at,
      bytes_done: report.bytesDone ?? row.bytes_done,
      bytes_total: report.bytesTotal ?? row.bytes_total,
      ...(report.cameras === undefined ? {} : { camera_status: JSON.stringify(report.cameras) }),
      ...(report.nodes === undefined ? {} : { node_status: JSON.stringify(report.nodes) }),
    };
    await this.repo.update(row.id, facts);
    const current: InstanceRow = { ...row, ...facts };
    if (report.stage === row.stage) {
      this.touched(current);
      return;
    }
    if (report.stage === 'failed' || report.stage === 'rolled-back') {
      await this.fail(current, report.code ?? 'APP_FAILED', report.message ?? `The device reported a failure while ${row.stage}.`);
      return;
    }
    await this.transition(current, report.stage, { code: null, message: report.message ?? null });
    if (report.stage === 'running' && row.replaces !== null) {
      // The replacement runs: only now does the instance it replaces stop.
      const old = await this.repo.find(row.project, row.replaces);
      if (old !== undefined && !ENDED_STAGES.includes(old.stage)) await this.transition(old, 'stopped', { message: `replaced by ${row.id}` });
    }
  }

  /**
   * Fails every instance stuck in a timed stage past its limit with
   * STAGE_TIMEOUT, naming the stage (nothing sits "in progress" forever).
   * Runs on the control plane's sweep interval; returns how many it failed.
   */
  async sweepTimeouts(): Promise<number> {
    const now = this.clock.now();
    let failed = 0;
    for (const row of await this.repo.inTimedStages()) {
      const stage = row.stage as (typeof TIMED_STAGES)[number];
      const limit = this.timeouts[stage];
      if (now - Number(row.stage_started_at) <= limit * 1000) continue;
      await this.store.transaction(async () => {
        const fresh = await this.repo.find(row.project, row.id);
        if (fresh?.stage !== stage || fresh.stage_started_at !== row.stage_started_at) return;
        const message = `Stage ${stage} ran out after ${limit} s (no progress reported in time).`;
        await this.fail(fresh, 'STAGE_TIMEOUT', message);
        await this.audit.record({
          requestId: randomUUID(),
          time: now,
          principal: { type: 'anonymous', id: '', name: 'control-plane' },
          action: 'app:StageTimeout',
          resource: `srn:sightline:${row.project}:app/${row.id}`,
          sourceIp: '',
          userAgent: 'sightline-server',
          outcome: 'failed',
          errorCode: 'STAGE_TIMEOUT',
          parameters: { stage, limitSeconds: limit },
        });
        failed += 1;
      });
    }
    return failed;
  }

  /** The device's desired `apps`: every live instance, with its packages, cameras (never credentials) and parameters. */
  async desiredApps(deviceId: string, project: string): Promise<DesiredApp[]> {
    const rows = await this.repo.active(deviceId);
    if (rows.length === 0) return [];
    const trustedKeyIds = await this.packages.trustedKeyIds(project);
    const refs = new Map<string, appsApi.PackageRef>();
    const ref = async (name: string, version: string): Promise<appsApi.PackageRef> => {
      const key = `${name}@${version}`;
      let found = refs.get(key);
      if (found === undefined) {
        const p = await this.packages.deployable(project, name, version);
        if (!('ref' in p)) throw new AppError('APP_NOT_FOUND', `Package ${key} of a deployed instance is gone.`);
        found = p.ref;
        refs.set(key, found);
      }
      return found;
    };
    const cameraRows = new Map((await this.cameras.list(project)).map((c) => [c.id, c]));
    const out: DesiredApp[] = [];
    for (const r of rows) {
      const resolved = JSON.parse(r.resolved) as Resolved;
      const cameras: appsApi.InstanceCamera[] = [];
      for (const c of JSON.parse(r.cameras) as InstanceCameraRecord[]) {
        const cam = cameraRows.get(c.cameraId);
        if (cam === undefined) continue;
        cameras.push({
          node: c.node,
          cameraId: cam.id,
          camera: cam.name,
          url: cam.url,
          hasCredentials: cam.secret_name !== null,
          ...(cam.tls_ca_pem === null ? {} : { tlsCaPem: cam.tls_ca_pem }),
          paused: c.paused || cam.state === 'paused',
        });
      }
      out.push({
        instanceId: r.id,
        app: r.app,
        revision: r.revision,
        manifestSha256: r.manifest_sha256,
        code: await Promise.all(resolved.code.map(async (c) => ({ node: c.node, package: await ref(c.package, c.version) }))),
        models: await Promise.all(resolved.models.map(async (m) => ({ node: m.node, package: await ref(m.package, m.version) }))),
        cameras,
        outputs: [...resolved.outputs],
        edges: resolved.edges.map((e) => ({ from: e.from, to: e.to })),
        parameters: Object.fromEntries(Object.entries(resolved.parameters).map(([k, v]) => [k, { ...v }])),
        trustedKeyIds,
        stageTimeoutsSeconds: { ...this.timeouts },
      });
    }
    return out;
  }

  /** True when a blob (by SHA-256) belongs to a package of one of the device's live instances. */
  async deviceMayFetchBlob(deviceId: string, project: string, sha256: string): Promise<boolean> {
    const seen = new Set<string>();
    for (const r of await this.repo.active(deviceId)) {
      const resolved = JSON.parse(r.resolved) as Resolved;
      for (const p of [...resolved.code, ...resolved.models]) {
        const key = `${p.package}@${p.version}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const found = await this.packages.deployable(project, p.package, p.version);
        if ('files' in found && found.files.some((f) => f.sha256 === sha256)) return true;
      }
    }
    return false;
  }
}
