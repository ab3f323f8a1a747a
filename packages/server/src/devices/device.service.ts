import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Encrypter } from 'age-encryption';
import { base32Encode } from '@sightline/core';
import { deviceApi } from '@sightline/protocol';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../http/pipeline.js';
import type { Principal } from '../http/router.js';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import { ReusableQuery } from '../storage/reusable-query.js';
import type { DevicesTable } from '../storage/schema.js';
import { pkcs8ToPem, type Issued } from '../tls/ca.js';
import { issueFromCsr, issueProvisioningCert } from './device-certs.js';
import { DeviceError } from './device-errors.js';
import { progressColumns, type JobProgress } from '../releases/update-progress.js';

type NetworkSettings = deviceApi.NetworkSettings;
type Heartbeat = deviceApi.Heartbeat;
type DeviceJob = deviceApi.DeviceJob;

export interface DeviceSettings {
  /** The URL agents use (the same HTTPS port; device routes need a client certificate); known once listening. */
  controlPlaneUrl: () => string;
  /** SHA-256 (hex) of the server certificate the agent pins. */
  serverCertSha256: () => string;
  provisioningValidityMinutes: number;
  operationalCertDays: number;
  /** A device is online when its last heartbeat is younger than this. */
  onlineWindowSeconds: number;
}

export interface DeviceView {
  id: string;
  project: string;
  name: string;
  state: DevicesTable['state'];
  tags: Record<string, string>;
  online: boolean;
  lastSeenAt: string | null;
  offlineForSeconds: number | null;
  integrity: DevicesTable['integrity_state'];
  agentVersion: string | null;
  registeredAt: string | null;
  createdAt: string;
  network: NetworkSettings;
  status?: Heartbeat | null;
  /**
   * Whether the device runs below a release published as required (a security
   * fix): its reported anti-rollback floor is under that release's security
   * version. Null when it has not reported its update state (or no release
   * exists). Listed and described devices carry it.
   */
  updateRequired?: boolean | null;
  /** The newest published release, when it differs from what the device runs. */
  updateAvailable?: string | null;
}

/** What the fleet view needs of each published release. */
export interface ReleaseSummary {
  version: string;
  securityVersion: number;
  required: boolean;
}

export interface ProvisionResult {
  device: DeviceView;
  /** The encrypted archive (age format): handed out once, never stored. */
  archive: Uint8Array;
  archiveSha256: string;
  /** Opens the archive; printed once, apart from the file. */
  passphrase: string;
  provisioningExpiresAt: string;
}

/** The principal of a request that came with a device certificate. */
export interface DevicePrincipal extends Principal {
  type: 'device';
  deviceId: string;
  project: string;
  certKind: 'provisioning' | 'operational';
  certSerial: string;
}

/** What a certificate lookup found, kept while no device or certificate was written since. */
interface CachedCert {
  generation: number;
  sha256: string;
  expiresAt: number;
  principal: DevicePrincipal;
}

/** Bounds the principal cache (about two certificates per device for a 10,000-device fleet, with room). */
const PRINCIPAL_CACHE_MAX = 50_000;

/** A one-time passphrase: 25 random base32 characters (125 bits) in groups of five. */
function newPassphrase(): string {
  return (base32Encode(randomBytes(16)).slice(0, 25).match(/.{5}/g) ?? []).join('-');
}

/**
 * Appliances (seed "AWS Panorama Appliance" section): one-time encrypted
 * provisioning, device identity by per-device certificates (mTLS), desired
 * state by long-poll, heartbeats, jobs, deregistration with revocation.
 */
export class DeviceService {
  /** Wakes long-polls of a device when its desired state changes (this replica). */
  private readonly changes = new EventEmitter();
  /**
   * Certificate lookups by serial. Valid only while `generation` is unchanged: every write to
   * `devices` or `device_certs` made here (other than a heartbeat's status columns) bumps it,
   * before the write and again once it committed, so a revocation or rename takes effect on the
   * next request. Only on SQLite, where this process is the database's one writer; replicas
   * sharing PostgreSQL each see only their own writes, so there every request reads the table.
   */
  private readonly principals = new Map<string, CachedCert>();
  private generation = 0;
  private readonly cachePrincipals: boolean;
  // The two statements of every heartbeat and long-poll, compiled once (see ReusableQuery).
  private readonly beatQuery = new ReusableQuery((db, $) =>
    db.updateTable('devices').set({ last_seen_at: $(0), status: $(1), integrity_state: $(2), agent_version: $(3) }).where('id', '=', $(4)),
  );
  private readonly pendingJobsQuery = new ReusableQuery((db, $) =>
    db.selectFrom('device_jobs').selectAll().where('device_id', '=', $(0)).where('status', 'in', ['queued', 'running']).orderBy('created_at'),
  );

  constructor(
    private readonly store: Store,
    private readonly ca: () => Issued,
    private readonly audit: AuditSink,
    private readonly clock: Clock,
    private readonly settings: DeviceSettings,
    options: { cachePrincipals?: boolean } = {},
  ) {
    this.changes.setMaxListeners(0);
    this.cachePrincipals = options.cachePrincipals ?? store.engine === 'sqlite';
  }

  /** Called around every write to `devices` / `device_certs` that may change a principal (see `principals`). */
  private invalidatePrincipals(): void {
    this.generation++;
    this.principals.clear();
    this.store.afterCommit(() => {
      this.generation++;
      this.principals.clear();
    });
  }

  /** Where the desired state's `apps` come from (the app service, wired after both exist). */
  private appSource: ((deviceId: string, project: string) => Promise<deviceApi.DesiredState['apps']>) | undefined;

  setAppSource(source: (deviceId: string, project: string) => Promise<deviceApi.DesiredState['apps']>): void {
    this.appSource = source;
  }

  /** Output previews the device should push now (the preview service, wired after both exist; issue 8). */
  private previewSource: ((deviceId: string) => deviceApi.DesiredState['previews']) | undefined;

  setPreviewSource(source: (deviceId: string) => deviceApi.DesiredState['previews']): void {
    this.previewSource = source;
  }

  /** The trusted TUF root (base64) a provisioning archive carries (the release service, wired after both exist). */
  private tufRootSource: (() => Promise<string | undefined>) | undefined;
  private releaseSource: () => Promise<ReleaseSummary[]> = () => Promise.resolve([]);

  /** The published releases, newest first (the release service), for `updateRequired` in lists. */
  setReleaseSource(source: () => Promise<ReleaseSummary[]>): void {
    this.releaseSource = source;
  }

  setTufRootSource(source: () => Promise<string | undefined>): void {
    this.tufRootSource = source;
  }

  /** Wakes the device's long-polls: its desired state changed (an app deployed, paused, removed). */
  notify(deviceId: string): void {
    this.store.afterCommit(() => this.changes.emit(deviceId));
  }

  private view(r: DevicesTable, withStatus = false): DeviceView {
    const now = this.clock.now();
    const online = r.last_seen_at !== null && now - r.last_seen_at < this.settings.onlineWindowSeconds * 1000 && r.state === 'registered';
    return {
      id: r.id,
      project: r.project,
      name: r.name,
      state: r.state,
      tags: JSON.parse(r.tags) as Record<string, string>,
      online,
      lastSeenAt: r.last_seen_at === null ? null : new Date(r.last_seen_at).toISOString(),
      offlineForSeconds: online || r.last_seen_at === null ? null : Math.floor((now - r.last_seen_at) / 1000),
      integrity: r.integrity_state,
      agentVersion: r.agent_version,
      registeredAt: r.registered_at === null ? null : new Date(r.registered_at).toISOString(),
      createdAt: new Date(r.created_at).toISOString(),
      network: JSON.parse(r.network) as NetworkSettings,
      ...(withStatus ? { status: r.status === null ? null : (JSON.parse(r.status) as Heartbeat) } : {}),
    };
  }

  private async get(project: string, name: string): Promise<DevicesTable> {
    const row = await this.store.db.selectFrom('devices').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw new DeviceError('DEVICE_NOT_FOUND', `No device named "${name}" in project ${project}.`);
    return row;
  }

  /**
   * Creates the device and its configuration archive, once (seed point 11):
   * the archive is encrypted (age, scrypt passphrase) and only its hash and
   * the provisioning certificate's fingerprint are kept.
   */
  async provision(input: { project: string; name: string; network: NetworkSettings; ntp: string[]; validityMinutes?: number }): Promise<ProvisionResult> {
    const minutes = input.validityMinutes ?? this.settings.provisioningValidityMinutes;
    if (!Number.isInteger(minutes) || minutes < 5 || minutes > 7 * 24 * 60) {
      throw new DeviceError('PROVISIONING_VALIDITY_INVALID', 'The provisioning certificate lives 5 minutes to 7 days (default 60 minutes).', { details: { field: 'validityMinutes' } });
    }
    const now = this.clock.now();
    const prov = await issueProvisioningCert(this.ca(), input.name, minutes, new Date(now));
    const tufRoot = await this.tufRootSource?.();
    const archiveJson: deviceApi.ProvisioningArchive = {
      v: deviceApi.PROVISIONING_ARCHIVE_VERSION,
      device: input.name,
      project: input.project,
      controlPlane: { url: this.settings.controlPlaneUrl(), serverCertSha256: this.settings.serverCertSha256() },
      caPem: this.ca().certPem,
      provisioning: { certPem: prov.certPem, keyPem: pkcs8ToPem(prov.keyPkcs8 ?? new Uint8Array()), expiresAt: new Date(prov.expiresAt).toISOString() },
      network: input.network,
      ntp: input.ntp,
      createdAt: new Date(now).toISOString(),
      ...(tufRoot === undefined ? {} : { tufRoot }),
    };
    prov.keyPkcs8?.fill(0);
    const passphrase = newPassphrase();
    const enc = new Encrypter();
    enc.setPassphrase(passphrase);
    // The passphrase carries 125 random bits, so scrypt's cost guards nothing; keep it quick.
    enc.setScryptWorkFactor(14);
    const archive = await enc.encrypt(JSON.stringify(archiveJson));
    const archiveSha256 = createHash('sha256').update(archive).digest('hex');
    const row: DevicesTable = {
      id: randomUUID(),
      project: input.project,
      name: input.name,
      state: 'provisioned',
      tags: '{}',
      network: JSON.stringify(input.network),
      archive_sha256: archiveSha256,
      created_at: now,
      registered_at: null,
      deregistered_at: null,
      last_seen_at: null,
      status: null,
      integrity_state: 'unknown',
      agent_version: null,
    };
    try {
      await this.store.transaction(async () => {
        this.invalidatePrincipals();
        await this.store.db.insertInto('devices').values(row).execute();
        await this.store.db
          .insertInto('device_certs')
          .values({ serial: prov.serial, device_id: row.id, kind: 'provisioning', sha256: prov.sha256, issued_at: now, expires_at: prov.expiresAt, used_at: null, revoked_at: null })
          .execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DeviceError('ALREADY_EXISTS', `A device named "${input.name}" already exists in project ${input.project}.`, { cause: err });
      throw err;
    }
    return { device: this.view(row), archive, archiveSha256, passphrase, provisioningExpiresAt: new Date(prov.expiresAt).toISOString() };
  }

  /**
   * Resolves a verified client certificate to its device, refusing revoked,
   * expired, unknown or deregistered ones. Called on every device request so
   * a revocation takes effect at the next request.
   */
  async principalForCert(serial: string, sha256: string): Promise<DevicePrincipal> {
    const hit = this.principals.get(serial);
    if (hit !== undefined && hit.generation === this.generation) {
      if (hit.sha256 !== sha256) throw new DeviceError('CERT_UNTRUSTED', 'This certificate was not issued to a device of this control plane.');
      // Expiry is a matter of the clock, not of writes: checked on every request.
      if (hit.expiresAt <= this.clock.now()) throw new DeviceError('CERT_EXPIRED', 'This device certificate has expired; provision the device anew.');
      return { ...hit.principal };
    }
    // Taken before the read: a write that lands while it runs makes this entry stale at once.
    const generation = this.generation;
    const row = await this.store.db
      .selectFrom('device_certs')
      .innerJoin('devices', 'devices.id', 'device_certs.device_id')
      .select(['device_certs.kind', 'device_certs.sha256', 'device_certs.expires_at', 'device_certs.revoked_at', 'devices.id as device_id', 'devices.name', 'devices.project', 'devices.state'])
      .where('device_certs.serial', '=', serial)
      .executeTakeFirst();
    if (row === undefined || row.sha256 !== sha256) throw new DeviceError('CERT_UNTRUSTED', 'This certificate was not issued to a device of this control plane.');
    if (row.revoked_at !== null || row.state === 'deregistered') {
      throw new DeviceError('CERT_REVOKED', 'This device was deregistered and its certificates revoked; it needs a full reset and new provisioning.');
    }
    if (row.expires_at <= this.clock.now()) throw new DeviceError('CERT_EXPIRED', 'This device certificate has expired; provision the device anew.');
    const principal: DevicePrincipal = {
      type: 'device',
      id: row.device_id,
      deviceId: row.device_id,
      name: row.name,
      project: row.project,
      userId: '',
      mfaPresent: false,
      enrollmentOnly: false,
      certKind: row.kind,
      certSerial: serial,
    };
    if (this.cachePrincipals && generation === this.generation) {
      if (this.principals.size >= PRINCIPAL_CACHE_MAX) this.principals.clear();
      this.principals.set(serial, { generation, sha256: row.sha256, expiresAt: row.expires_at, principal });
      return { ...principal };
    }
    return principal;
  }

  async certKind(serial: string): Promise<'provisioning' | 'operational' | undefined> {
    const row = await this.store.db.selectFrom('device_certs').select('kind').where('serial', '=', serial).executeTakeFirst();
    return row?.kind;
  }

  /** Registration: trade the single-use provisioning certificate for an operational one. */
  async register(p: DevicePrincipal, csrPem: string): Promise<{ deviceId: string; device: string; project: string; certPem: string; caPem: string; expiresAt: string }> {
    if (p.certKind !== 'provisioning') throw new DeviceError('CERT_WRONG_KIND', 'Register with the provisioning certificate from the archive.');
    const now = this.clock.now();
    return this.store.transaction(async () => {
      this.invalidatePrincipals();
      // Single use: claim the provisioning certificate atomically.
      const claimed = await this.store.db.updateTable('device_certs').set({ used_at: now }).where('serial', '=', p.certSerial).where('used_at', 'is', null).executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) {
        throw new DeviceError('PROVISIONING_CERT_USED', 'This provisioning archive was already used; provision the device anew ("sightline device provision").');
      }
      const issued = await issueFromCsr(this.ca(), p.name, csrPem, this.settings.operationalCertDays, new Date(now));
      await this.store.db
        .insertInto('device_certs')
        .values({ serial: issued.serial, device_id: p.deviceId, kind: 'operational', sha256: issued.sha256, issued_at: now, expires_at: issued.expiresAt, used_at: null, revoked_at: null })
        .execute();
      await this.store.db.updateTable('devices').set({ state: 'registered', registered_at: now }).where('id', '=', p.deviceId).execute();
      return { deviceId: p.deviceId, device: p.name, project: p.project, certPem: issued.certPem, caPem: this.ca().certPem, expiresAt: new Date(issued.expiresAt).toISOString() };
    });
  }

  /** Renewal with the current operational certificate; the old one stays valid until it expires. */
  async renew(p: DevicePrincipal, csrPem: string): Promise<{ certPem: string; expiresAt: string }> {
    if (p.certKind !== 'operational') throw new DeviceError('CERT_WRONG_KIND', 'Renew with the operational certificate.');
    const now = this.clock.now();
    const issued = await issueFromCsr(this.ca(), p.name, csrPem, this.settings.operationalCertDays, new Date(now));
    this.invalidatePrincipals();
    await this.store.db
      .insertInto('device_certs')
      .values({ serial: issued.serial, device_id: p.deviceId, kind: 'operational', sha256: issued.sha256, issued_at: now, expires_at: issued.expiresAt, used_at: null, revoked_at: null })
      .execute();
    return { certPem: issued.certPem, expiresAt: new Date(issued.expiresAt).toISOString() };
  }

  assertOperational(p: DevicePrincipal): void {
    if (p.certKind !== 'operational') throw new DeviceError('CERT_WRONG_KIND', 'The provisioning certificate may only register the device.');
  }

  async heartbeat(p: DevicePrincipal, hb: Heartbeat, requestId: string, sourceIp: string): Promise<void> {
    this.assertOperational(p);
    const now = this.clock.now();
    // The previous integrity state matters only for a compromised report (to audit the change once):
    // the common heartbeat is one UPDATE. Status columns only, so cached principals stay valid.
    const compromised = hb.integrity.state === 'compromised';
    const before = compromised ? await this.store.db.selectFrom('devices').select(['integrity_state']).where('id', '=', p.deviceId).executeTakeFirstOrThrow() : undefined;
    await this.beatQuery.execute(this.store.db, [now, JSON.stringify(hb), hb.integrity.state, hb.agentVersion, p.deviceId]);
    if (compromised && before?.integrity_state !== 'compromised') {
      // Seed point 13: a failed software-integrity check is a security event.
      await this.audit.record({
        requestId,
        time: now,
        principal: { type: 'device', id: p.deviceId, name: p.name },
        action: 'device:IntegrityCompromised',
        resource: `srn:sightline:${p.project}:device/${p.name}`,
        sourceIp,
        userAgent: 'sightline-agent',
        outcome: 'failed',
        errorCode: 'INTEGRITY_COMPROMISED',
        parameters: { detail: hb.integrity.detail ?? '' },
      });
    }
  }

  private async pendingJobs(deviceId: string): Promise<DeviceJob[]> {
    const { rows } = await this.pendingJobsQuery.execute(this.store.db, [deviceId]);
    return rows.map((r) => ({ id: r.id, kind: r.kind, createdAt: new Date(r.created_at).toISOString(), ...(r.params === null ? {} : { params: JSON.parse(r.params) as deviceApi.UpdateJobParams }) }));
  }

  async desiredState(p: DevicePrincipal): Promise<deviceApi.DesiredState> {
    this.assertOperational(p);
    const jobs = await this.pendingJobs(p.deviceId);
    const apps = (await this.appSource?.(p.deviceId, p.project)) ?? [];
    // The ETag hashes the whole body, apps included: any change to an app changes it.
    const previews = this.previewSource?.(p.deviceId) ?? [];
    // Previews only when there are some, so a device without any keeps the ETag it had before issue 8.
    const body = { device: p.name, project: p.project, jobs, apps, ...(previews.length === 0 ? {} : { previews }) };
    const etag = createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 22);
    return { etag, ...body };
  }

  /** Long-poll: answers as soon as the state differs from `etag`, or `undefined` after `waitMs`. */
  async waitForChange(p: DevicePrincipal, etag: string | undefined, waitMs: number, signal: AbortSignal): Promise<deviceApi.DesiredState | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const state = await this.desiredState(p);
      if (state.etag !== etag) return state;
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) return undefined;
      // Wake on a local change, or re-read every 25 s for changes made by another replica.
      // Reaching the deadline with no local change answers 304 without another read: the
      // agent's next long-poll reads at once, so a remote change waits no longer than before.
      let changed = false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.changes.off(p.deviceId, woken);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const woken = (): void => {
          changed = true;
          done();
        };
        const timer = setTimeout(done, Math.min(left, 25_000));
        this.changes.once(p.deviceId, woken);
        signal.addEventListener('abort', done, { once: true });
      });
      if (!changed && (signal.aborted || deadline - Date.now() <= 0)) return undefined;
    }
  }

  async createJob(project: string, name: string, kind: DeviceJob['kind'], createdBy: string, params?: deviceApi.UpdateJobParams): Promise<{ id: string; kind: string; status: string; device: string }> {
    const row = await this.get(project, name);
    if (row.state !== 'registered') throw new DeviceError('DEVICE_NOT_REGISTERED', `Device "${name}" is ${row.state}; jobs need a registered device.`);
    const now = this.clock.now();
    const id = randomUUID();
    await this.store.db
      .insertInto('device_jobs')
      .values({ id, device_id: row.id, kind, status: 'queued', message: null, created_by: createdBy, created_at: now, updated_at: now, params: params === undefined ? null : JSON.stringify(params), stage: kind === 'update' ? 'queued' : null, stage_started_at: kind === 'update' ? now : null })
      .execute();
    this.store.afterCommit(() => this.changes.emit(row.id));
    return { id, kind, status: 'queued', device: name };
  }

  async updateJob(p: DevicePrincipal, jobId: string, status: 'running' | 'succeeded' | 'failed', message: string | undefined, progress: JobProgress = {}): Promise<void> {
    this.assertOperational(p);
    const job = await this.store.db.selectFrom('device_jobs').selectAll().where('id', '=', jobId).where('device_id', '=', p.deviceId).executeTakeFirst();
    if (job === undefined) throw new DeviceError('JOB_NOT_FOUND', `No job ${jobId} for this device.`);
    // A device that reports its reset as running is destroying its keys and cannot report again:
    // revoke its certificates now and close the job, so it never sits "running" forever.
    const resetting = job.kind === 'reset' && status !== 'failed';
    // An update job that ended (committed, reverted, or timed out here) keeps its outcome: a late report changes nothing.
    if (job.kind === 'update' && (job.status === 'succeeded' || job.status === 'failed')) return;
    const staged = job.kind === 'update' ? progressColumns(job, status, message, progress, this.clock.now()) : {};
    await this.store.db
      .updateTable('device_jobs')
      .set({ status: resetting ? 'succeeded' : status, message: resetting ? 'crypto-erase started on the device; its certificates are revoked' : (message ?? null), updated_at: this.clock.now(), ...staged })
      .where('id', '=', jobId)
      .execute();
    if (resetting) await this.revokeAll(p.deviceId);
  }

  async jobs(project: string, name: string): Promise<{ id: string; kind: string; status: string; message: string | null; createdAt: string; updatedAt: string }[]> {
    const row = await this.get(project, name);
    const rows = await this.store.db.selectFrom('device_jobs').selectAll().where('device_id', '=', row.id).orderBy('created_at', 'desc').limit(100).execute();
    return rows.map((r) => ({ id: r.id, kind: r.kind, status: r.status, message: r.message, createdAt: new Date(r.created_at).toISOString(), updatedAt: new Date(r.updated_at).toISOString() }));
  }

  private async revokeAll(deviceId: string): Promise<void> {
    const now = this.clock.now();
    this.invalidatePrincipals();
    await this.store.db.updateTable('device_certs').set({ revoked_at: now }).where('device_id', '=', deviceId).where('revoked_at', 'is', null).execute();
    await this.store.db.updateTable('devices').set({ state: 'deregistered', deregistered_at: now }).where('id', '=', deviceId).execute();
    this.store.afterCommit(() => this.changes.emit(deviceId));
  }

  /** Revokes every certificate at once; the device needs a full reset and new provisioning. */
  async deregister(project: string, name: string): Promise<DeviceView> {
    const row = await this.get(project, name);
    await this.revokeAll(row.id);
    return this.view(await this.get(project, name));
  }

  async list(project: string): Promise<DeviceView[]> {
    const rows = await this.store.db.selectFrom('devices').selectAll().where('project', '=', project).orderBy('name').execute();
    const releases = await this.releaseSource();
    return rows.map((r) => ({ ...this.view(r), ...updateState(r.status, releases) }));
  }

  async describe(project: string, name: string): Promise<DeviceView & { certificates: { serial: string; kind: string; expiresAt: string; revoked: boolean; used: boolean }[]; isolation: Heartbeat['isolation'] | null }> {
    const row = await this.get(project, name);
    const certs = await this.store.db.selectFrom('device_certs').selectAll().where('device_id', '=', row.id).orderBy('issued_at').execute();
    return {
      ...this.view(row, true),
      ...updateState(row.status, await this.releaseSource()),
      // Which isolation layers the appliance reported it can apply to apps (issue 6), from its last heartbeat.
      isolation: row.status === null ? null : ((JSON.parse(row.status) as Heartbeat).isolation ?? null),
      certificates: certs.map((c) => ({ serial: c.serial, kind: c.kind, expiresAt: new Date(c.expires_at).toISOString(), revoked: c.revoked_at !== null, used: c.used_at !== null })),
    };
  }

  async rename(project: string, name: string, newName: string): Promise<DeviceView> {
    const row = await this.get(project, name);
    this.invalidatePrincipals();
    try {
      await this.store.db.updateTable('devices').set({ name: newName }).where('id', '=', row.id).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new DeviceError('ALREADY_EXISTS', `A device named "${newName}" already exists.`, { cause: err });
      throw err;
    }
    return this.view({ ...row, name: newName });
  }

  async tag(project: string, name: string, tags: Record<string, string>, remove: string[]): Promise<DeviceView> {
    const row = await this.get(project, name);
    const next = { ...(JSON.parse(row.tags) as Record<string, string>), ...tags };
    for (const k of remove) delete next[k];
    this.invalidatePrincipals();
    await this.store.db.updateTable('devices').set({ tags: JSON.stringify(next) }).where('id', '=', row.id).execute();
    return this.view({ ...row, tags: JSON.stringify(next) });
  }
}

/**
 * Update state for the fleet view from the device's last heartbeat and the
 * published releases (newest first). Required: a release published as
 * required has a security version above the floor the device reported (the
 * floor rises when a required release commits on it).
 */
export function updateState(status: string | null, releases: readonly ReleaseSummary[]): { updateRequired: boolean | null; updateAvailable: string | null } {
  const { running, floor } = reportedSoftware(status);
  const newest = releases[0];
  const updateAvailable = newest !== undefined && running !== undefined && newest.version !== running ? newest.version : null;
  if (floor === undefined || releases.length === 0) return { updateRequired: null, updateAvailable };
  return { updateRequired: releases.some((r) => r.required && r.securityVersion > floor), updateAvailable };
}

/**
 * What a device's last heartbeat says of its software: the release it runs
 * (its update state, else its agent version) and its anti-rollback floor
 * (undefined when it does not report its update state). Both undefined when
 * it has not beaten or the stored heartbeat does not parse.
 */
export function reportedSoftware(status: string | null): { running: string | undefined; floor: number | undefined } {
  if (status === null) return { running: undefined, floor: undefined };
  const parsed = deviceApi.heartbeatRequest.safeParse(JSON.parse(status));
  if (!parsed.success) return { running: undefined, floor: undefined };
  const hb = parsed.data;
  return { running: hb.update?.version ?? hb.agentVersion, floor: hb.update?.securityFloor };
}
