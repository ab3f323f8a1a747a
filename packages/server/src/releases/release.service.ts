import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Metadata, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import {
  assertNotExpired,
  buildSnapshot,
  buildTimestamp,
  bundleTargetName,
  compareReleaseVersions,
  isReleaseVersion,
  EXPIRY_DAYS,
  generateReleaseKey,
  isSightlineError,
  metadataBytes,
  parseMetadata,
  releaseSignerFromPkcs8,
  ReleaseError,
  roleKeys,
  sightlineTargetCustom,
  signMetadata,
  verifyRole,
  verifyRootChain,
  type ReleaseSigner,
  type RoleName,
} from '@sightline/core';
import type { deviceApi } from '@sightline/protocol';
import type { ArtifactService } from '../artifacts/artifact.service.js';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../http/pipeline.js';
import type { Principal } from '../http/router.js';
import type { RootKey } from '../keys/root-key.js';
import type { KeyCaller } from '../kms/kms.service.js';
import type { Logger } from '../logging/logger.js';
import type { DeviceJobsTable, ReleasesTable } from '../storage/schema.js';
import { isUniqueViolation, type Store } from '../storage/store.js';
import { reportedSoftware, type DeviceService } from '../devices/device.service.js';
import { DeviceError } from '../devices/device-errors.js';
import { ReleaseServiceError } from './release-errors.js';
import type { ReleaseRepository, TufRole } from './release.repository.js';
import type { JobHistoryEntry } from './update-progress.js';

/** Where a release's bundle is uploaded (the artifact store encrypts it at rest). */
export const RELEASE_PROJECT = 'default';
export const releaseArtifactName = (target: string): string => `releases/${target}`;

/** Seconds a job may stay in one stage before the control plane fails it (nothing sits in progress forever). */
export const DEFAULT_STAGE_TIMEOUTS: Readonly<Record<string, number>> = {
  queued: 3600,
  downloading: 600,
  verifying: 120,
  installing: 300,
  rebooting: 300,
  'health-check': 300,
};

export interface ReleaseSettings {
  stageTimeoutsSeconds?: Readonly<Record<string, number>>;
}

export interface ReleaseView {
  version: string;
  target: string;
  sha256: string;
  length: number;
  securityVersion: number;
  required: boolean;
  minAgentVersion: string | null;
  targetsVersion: number;
  createdAt: string;
  createdBy: string;
}

export interface UpdateJobView {
  id: string;
  device: string;
  kind: string;
  status: string;
  stage: string | null;
  stageStartedAt: string | null;
  bytesDone: number | null;
  bytesTotal: number | null;
  message: string | null;
  params: deviceApi.UpdateJobParams | null;
  history: JobHistoryEntry[];
  createdAt: string;
  updatedAt: string;
  /** Changes with any change of the job (stage, bytes, status): the `since` of a long-poll. */
  etag: string;
}

const KEY_SETTING = (role: 'snapshot' | 'timestamp'): string => `release.${role}-key.sealed`;
const KEY_CONTEXT = (role: 'snapshot' | 'timestamp'): string => `release-${role}-key`;
const SYSTEM: KeyCaller['principal'] = { type: 'system', id: 'releases', name: 'release-service' };

function view(r: ReleasesTable): ReleaseView {
  return {
    version: r.version,
    target: r.target,
    sha256: r.sha256,
    length: r.length,
    securityVersion: r.security_version,
    required: r.required === 1,
    minAgentVersion: r.min_agent_version,
    targetsVersion: r.targets_version,
    createdAt: new Date(r.created_at).toISOString(),
    createdBy: r.created_by,
  };
}

export function jobView(device: string, r: DeviceJobsTable): UpdateJobView {
  const etag = createHash('sha256').update(JSON.stringify(r)).digest('base64url').slice(0, 16);
  return {
    etag,
    id: r.id,
    device,
    kind: r.kind,
    status: r.status,
    stage: r.stage,
    stageStartedAt: r.stage_started_at === null ? null : new Date(r.stage_started_at).toISOString(),
    bytesDone: r.bytes_done,
    bytesTotal: r.bytes_total,
    message: r.message,
    params: r.params === null ? null : (JSON.parse(r.params) as deviceApi.UpdateJobParams),
    history: r.history === null ? [] : (JSON.parse(r.history) as JobHistoryEntry[]),
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

const TUF_FILE = /^(?:(\d{1,9})\.(root|targets|snapshot)|(timestamp))\.json$/;
const TARGET_FILE = /^([0-9a-f]{64})\.(sightline-agent-[0-9A-Za-z.-]{1,80}\.tar)$/;

/**
 * The control plane's TUF repository of agent releases (issue 7, seed point
 * 13). Root and targets metadata arrive signed by offline keys and are
 * verified against the trusted root before anything is stored; snapshot
 * and timestamp are signed here with online keys sealed under the root key.
 */
export class ReleaseService {
  private online: Promise<{ snapshot: ReleaseSigner; timestamp: ReleaseSigner }> | undefined;

  constructor(
    private readonly store: Store,
    private readonly repo: ReleaseRepository,
    private readonly artifacts: ArtifactService,
    private readonly devices: DeviceService,
    private readonly rootKey: RootKey,
    private readonly audit: AuditSink,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: ReleaseSettings = {},
  ) {}

  /** The snapshot and timestamp keys, made once (first replica wins) and sealed under the root key. */
  onlineKeys(): Promise<{ snapshot: ReleaseSigner; timestamp: ReleaseSigner }> {
    this.online ??= (async () => {
      const load = async (role: 'snapshot' | 'timestamp'): Promise<ReleaseSigner> => {
        if ((await this.repo.getSetting(KEY_SETTING(role))) === undefined) {
          const der = generateReleaseKey().export({ type: 'pkcs8', format: 'der' });
          await this.repo.putSettingIfAbsent(KEY_SETTING(role), this.rootKey.seal(der, KEY_CONTEXT(role)));
          der.fill(0);
        }
        const sealed = await this.repo.getSetting(KEY_SETTING(role));
        if (sealed === undefined) throw new ReleaseServiceError('TUF_ROOT_MISSING', `The ${role} key is missing from the database.`);
        const der = this.rootKey.open(sealed, KEY_CONTEXT(role));
        try {
          return releaseSignerFromPkcs8(der);
        } finally {
          der.fill(0);
        }
      };
      return { snapshot: await load('snapshot'), timestamp: await load('timestamp') };
    })();
    this.online.catch(() => (this.online = undefined));
    return this.online;
  }

  async onlineKeysView(): Promise<{ snapshot: { keyId: string; key: unknown }; timestamp: { keyId: string; key: unknown } }> {
    const k = await this.onlineKeys();
    return {
      snapshot: { keyId: k.snapshot.key.keyID, key: k.snapshot.key.toJSON() },
      timestamp: { keyId: k.timestamp.key.keyID, key: k.timestamp.key.toJSON() },
    };
  }

  private async trustedRoot(): Promise<Metadata<Root> | undefined> {
    const row = await this.repo.latest('root');
    return row === undefined ? undefined : parseMetadata('root', Buffer.from(row.body));
  }

  /** The newest root.json, base64: what a provisioning archive carries as the device's trust anchor. */
  async tufRootB64(): Promise<string | undefined> {
    const row = await this.repo.latest('root');
    return row === undefined ? undefined : Buffer.from(row.body).toString('base64');
  }

  async currentRoot(): Promise<{ version: number; expires: string; root: unknown }> {
    const row = await this.repo.latest('root');
    if (row === undefined) throw new ReleaseServiceError('TUF_ROOT_MISSING', 'No release root yet; create one with "sightline release keys init".');
    return { version: row.version, expires: new Date(row.expires_at).toISOString(), root: JSON.parse(row.body) as unknown };
  }

  private async store1(role: TufRole, md: Metadata<Root | Targets | Snapshot | Timestamp>, now: number): Promise<Buffer> {
    const body = metadataBytes(md);
    await this.repo.insertMetadata({ role, version: md.signed.version, body: body.toString('utf8'), expires_at: Date.parse(md.signed.expires), created_at: now });
    return body;
  }

  /**
   * Installs root version 1 (self-signed) or the next root, signed by a
   * threshold of the trusted root's keys and of its own (TUF 5.3.4). The
   * snapshot and timestamp roles must name this control plane's online keys.
   */
  async installRoot(json: unknown): Promise<{ version: number; expires: string }> {
    const md = parseMetadata('root', Buffer.from(JSON.stringify(json)));
    const now = this.clock.now();
    const trusted = await this.trustedRoot();
    if (trusted === undefined) {
      if (md.signed.version !== 1) throw new ReleaseError('METADATA_VERSION', `The first root must be version 1, not ${md.signed.version}.`, { details: { expected: 1 } });
      verifyRole(md.signed, 'root', md);
    } else {
      verifyRootChain(trusted.signed, md);
    }
    assertNotExpired(md, new Date(now), 'root');
    if (!md.signed.consistentSnapshot) throw new ReleaseError('METADATA_INVALID', 'Sightline serves consistent snapshots; set consistent_snapshot to true.');
    const online = await this.onlineKeys();
    for (const role of ['snapshot', 'timestamp'] as const) {
      const ids = roleKeys(md.signed, role).map((k) => k.keyID);
      if (ids.length !== 1 || ids[0] !== online[role].key.keyID) {
        throw new ReleaseServiceError('TUF_ONLINE_KEYS_MISMATCH', `The root's ${role} role must name exactly this control plane's ${role} key (see GET /api/v1/releases/online-keys).`, {
          details: { role, expected: online[role].key.keyID },
        });
      }
    }
    try {
      await this.store1('root', md, now);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ReleaseServiceError('TARGETS_VERSION_STALE', `Root version ${md.signed.version} was installed meanwhile.`, { cause: err });
      throw err;
    }
    return { version: md.signed.version, expires: md.signed.expires };
  }

  /** Signs the next snapshot (over targets `targetsVersion`) and the next timestamp. */
  private async resign(targetsVersion: number, now: number): Promise<void> {
    const online = await this.onlineKeys();
    const lastSnap = await this.repo.latest('snapshot');
    const snapshot = signMetadata(buildSnapshot((lastSnap?.version ?? 0) + 1, targetsVersion, new Date(now)), [online.snapshot]);
    const snapBytes = await this.store1('snapshot', snapshot, now);
    await this.newTimestamp({ version: snapshot.signed.version, bytes: snapBytes }, now);
  }

  private async newTimestamp(snapshot: { version: number; bytes: Uint8Array }, now: number): Promise<void> {
    const online = await this.onlineKeys();
    const last = await this.repo.latest('timestamp');
    const ts = signMetadata(buildTimestamp((last?.version ?? 0) + 1, snapshot, new Date(now)), [online.timestamp]);
    await this.store1('timestamp', ts, now);
  }

  /**
   * Accepts new targets metadata signed offline: a threshold of the trusted
   * root's targets keys and nobody else (TUF 5.6.3), not expired, exactly the
   * next version, every earlier target unchanged, and each new target's
   * bundle uploaded with the same length and SHA-256. Then re-signs snapshot
   * and timestamp, all in the caller's transaction.
   */
  async publish(json: unknown, createdBy: string): Promise<{ targetsVersion: number; releases: ReleaseView[] }> {
    const root = await this.trustedRoot();
    if (root === undefined) throw new ReleaseServiceError('TUF_ROOT_MISSING', 'No release root yet; create one with "sightline release keys init".');
    const md = parseMetadata('targets', Buffer.from(JSON.stringify(json)));
    const now = this.clock.now();
    verifyRole(root.signed, 'targets', md);
    assertNotExpired(md, new Date(now), 'targets');
    // Sightline signs every target with the top-level targets role; a delegation would hand that power to keys the root does not list.
    if (md.signed.delegations !== undefined) throw new ReleaseError('METADATA_INVALID', 'Targets with delegations are not accepted; sign each release with the targets key.');
    const prevRow = await this.repo.latest('targets');
    const prev = prevRow === undefined ? undefined : parseMetadata('targets', Buffer.from(prevRow.body));
    const expected = (prev?.signed.version ?? 0) + 1;
    if (md.signed.version < expected) {
      throw new ReleaseServiceError('TARGETS_VERSION_STALE', `These targets are version ${md.signed.version}, but version ${expected - 1} is already published; sign again over the current targets ("sightline release sign" fetches them).`, {
        details: { expected, got: md.signed.version },
      });
    }
    if (md.signed.version !== expected) throw new ReleaseError('METADATA_VERSION', `The targets must be version ${expected}, not ${md.signed.version}.`, { details: { expected, got: md.signed.version } });
    for (const [path, old] of Object.entries(prev?.signed.targets ?? {})) {
      const now2 = md.signed.targets[path];
      if (now2 === undefined || !now2.equals(old)) throw new ReleaseServiceError('RELEASE_IMMUTABLE', `Target ${path} is published already and may not change or vanish.`, { details: { target: path } });
    }
    const added = Object.values(md.signed.targets).filter((t) => prev?.signed.targets[t.path] === undefined);
    const rows: ReleasesTable[] = [];
    for (const t of added) {
      const custom = sightlineTargetCustom(t.custom);
      if (t.path !== bundleTargetName(custom.version)) {
        throw new ReleaseError('TARGET_CUSTOM_INVALID', `Target ${t.path} must be named ${bundleTargetName(custom.version)} (its custom.sightline.version).`, { details: { target: t.path } });
      }
      const sha256 = t.hashes['sha256'];
      if (sha256 === undefined) throw new ReleaseError('METADATA_INVALID', `Target ${t.path} has no sha256 hash.`, { details: { target: t.path } });
      const name = releaseArtifactName(t.path);
      let stored;
      try {
        stored = await this.artifacts.get(RELEASE_PROJECT, name);
      } catch (err) {
        throw new ReleaseServiceError('RELEASE_BUNDLE_MISSING', `Upload the bundle of ${t.path} first (artifact ${name} in project ${RELEASE_PROJECT}); "sightline release publish" does both.`, { cause: err, details: { target: t.path } });
      }
      if (stored.size !== t.length || stored.sha256 !== sha256) {
        throw new ReleaseServiceError('RELEASE_BUNDLE_MISSING', `The uploaded bundle ${name} differs from target ${t.path} (length or SHA-256).`, { details: { target: t.path } });
      }
      rows.push({
        version: custom.version,
        target: t.path,
        sha256,
        length: t.length,
        security_version: custom.securityVersion,
        required: custom.required ? 1 : 0,
        min_agent_version: custom.minAgentVersion ?? null,
        targets_version: md.signed.version,
        artifact: name,
        created_at: now,
        created_by: createdBy,
      });
    }
    try {
      await this.store.transaction(async () => {
        await this.store1('targets', md, now);
        for (const r of rows) await this.repo.insertRelease(r);
        await this.resign(md.signed.version, now);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ReleaseServiceError('TARGETS_VERSION_STALE', `Targets version ${md.signed.version} was published meanwhile; sign again.`, { cause: err });
      throw err;
    }
    return { targetsVersion: md.signed.version, releases: rows.map(view) };
  }

  /**
   * Keeps the online metadata fresh: a new snapshot when under half its life
   * is left, a new timestamp likewise, so devices never see expired
   * metadata from a healthy control plane. Then fails jobs stuck in a stage.
   */
  async maintain(now: number = this.clock.now()): Promise<void> {
    const targets = await this.repo.latest('targets');
    if (targets !== undefined) {
      const half = (days: number): number => (days * 86_400_000) / 2;
      const snap = await this.repo.latest('snapshot');
      const ts = await this.repo.latest('timestamp');
      try {
        if (snap === undefined || snap.expires_at - now < half(EXPIRY_DAYS.snapshot)) {
          await this.store.transaction(() => this.resign(targets.version, now));
        } else if (ts === undefined || ts.expires_at - now < half(EXPIRY_DAYS.timestamp)) {
          await this.store.transaction(() => this.newTimestamp({ version: snap.version, bytes: Buffer.from(snap.body) }, now));
        }
      } catch (err) {
        // Another replica refreshed first: its version stands.
        if (!isUniqueViolation(err)) throw err;
      }
    }
    await this.sweepStuck(now);
  }

  /** Fails update jobs that stayed in one stage past its timeout, naming the stage (code STAGE_TIMEOUT in the message). */
  async sweepStuck(now: number = this.clock.now()): Promise<number> {
    const limits = { ...DEFAULT_STAGE_TIMEOUTS, ...this.settings.stageTimeoutsSeconds };
    let failed = 0;
    for (const job of await this.repo.openUpdateJobs()) {
      const stage = job.stage ?? 'queued';
      const limit = limits[stage] ?? 600;
      const since = job.stage_started_at ?? job.updated_at;
      if (now - since < limit * 1000) continue;
      const message = `STAGE_TIMEOUT: no progress in stage ${stage} for ${limit} s`;
      const history = [...(job.history === null ? [] : (JSON.parse(job.history) as JobHistoryEntry[])), { stage: 'failed', at: new Date(now).toISOString(), message }];
      if (await this.repo.failStuck(job, message, JSON.stringify(history), now)) failed++;
    }
    return failed;
  }

  /** A metadata file as devices fetch it: `N.root.json`, `N.targets.json`, `N.snapshot.json`, `timestamp.json`. */
  async metadataFile(file: string): Promise<Buffer> {
    const m = TUF_FILE.exec(file);
    if (m === null) throw new ReleaseServiceError('TUF_FILE_NOT_FOUND', `No metadata file ${file.slice(0, 80)}.`);
    const row = m[3] !== undefined ? await this.repo.latest('timestamp') : await this.repo.metadata(m[2] as RoleName, Number(m[1]));
    if (row === undefined) throw new ReleaseServiceError('TUF_FILE_NOT_FOUND', `No metadata file ${file}.`);
    return Buffer.from(row.body);
  }

  /** A target as devices fetch it (`<sha256>.<name>`): the decrypted bundle, streamed, with its length. */
  async targetFile(file: string, requestId: string, sourceIp: string): Promise<{ stream: Readable; length: number }> {
    const m = TARGET_FILE.exec(file);
    const release = m === null ? undefined : await this.repo.releaseByTarget(m[2] ?? '');
    if (m === null || release === undefined || release.sha256 !== m[1]) throw new ReleaseServiceError('TUF_FILE_NOT_FOUND', `No target file ${file.slice(0, 120)}.`);
    const { stream, artifact } = await this.artifacts.open(RELEASE_PROJECT, release.artifact, { principal: SYSTEM, requestId, sourceIp });
    return { stream, length: artifact.size };
  }

  async list(): Promise<{ releases: ReleaseView[]; root: { version: number; expires: string } | null; targetsVersion: number | null; timestampExpires: string | null }> {
    const [rows, root, targets, ts] = await Promise.all([this.newestFirst(), this.repo.latest('root'), this.repo.latest('targets'), this.repo.latest('timestamp')]);
    const releases = rows.map(view);
    return {
      releases,
      root: root === undefined ? null : { version: root.version, expires: new Date(root.expires_at).toISOString() },
      targetsVersion: targets?.version ?? null,
      timestampExpires: ts === undefined ? null : new Date(ts.expires_at).toISOString(),
    };
  }

  /** Every published release, newest first: what the fleet view compares devices with. */
  async summaries(): Promise<ReleaseView[]> {
    return (await this.newestFirst()).map(view);
  }

  private async newestFirst(): Promise<ReleasesTable[]> {
    return (await this.repo.releases()).sort((a, b) => compareReleaseVersions(b.version, a.version));
  }

  /** The current targets.json (what the next offline signature builds on). */
  async currentTargets(): Promise<unknown> {
    const row = await this.repo.latest('targets');
    return row === undefined ? null : (JSON.parse(row.body) as unknown);
  }

  private async pickRelease(version: string | undefined): Promise<ReleasesTable> {
    if (version !== undefined) {
      const r = await this.repo.release(version);
      if (r === undefined) throw new ReleaseServiceError('RELEASE_NOT_FOUND', `No release ${version}; "sightline release ls" lists them.`, { details: { version } });
      return r;
    }
    const newest = (await this.newestFirst())[0];
    if (newest === undefined) throw new ReleaseServiceError('RELEASE_NOT_FOUND', 'No release is published yet; "sightline release publish" first.');
    return newest;
  }


  /**
   * Queues an update job for one device. Anti-rollback (seed point 13): a
   * release whose security version is below the floor the device reported
   * is refused (UPDATE_BELOW_FLOOR); the refusal is in the audit trail as
   * the failed call. The device enforces the floor again itself.
   */
  async createUpdate(project: string, name: string, version: string | undefined, createdBy: string): Promise<UpdateJobView> {
    const release = await this.pickRelease(version);
    const device = await this.repo.device(project, name);
    if (device === undefined) throw new DeviceError('DEVICE_NOT_FOUND', `No device named "${name}" in project ${project}.`);
    const reported = reportedSoftware(device.status);
    const floor = reported.floor ?? 0;
    if (release.security_version < floor) {
      throw new ReleaseServiceError('UPDATE_BELOW_FLOOR', `Release ${release.version} has security version ${release.security_version}, below device ${name}'s anti-rollback floor ${floor}; pick a newer release.`, {
        details: { device: name, version: release.version, securityVersion: release.security_version, floor },
      });
    }
    const running = reported.running;
    if (release.min_agent_version !== null && running !== undefined && isReleaseVersion(running) && compareReleaseVersions(running, release.min_agent_version) < 0) {
      throw new ReleaseServiceError('UPDATE_AGENT_TOO_OLD', `Release ${release.version} needs agent ${release.min_agent_version} or newer; device ${name} runs ${running}. Install an intermediate release first.`, {
        details: { device: name, version: release.version, minAgentVersion: release.min_agent_version, agentVersion: running },
      });
    }
    const job = await this.devices.createJob(project, name, 'update', createdBy, { version: release.version, target: release.target });
    const row = await this.repo.job(device.id, job.id);
    if (row === undefined) throw new ReleaseServiceError('UPDATE_JOB_NOT_FOUND', `Job ${job.id} vanished.`);
    return jobView(name, row);
  }

  /** Update jobs for several devices (or every registered one); refusals are listed and audited one by one. */
  async fleetUpdate(
    project: string,
    input: { version?: string; devices?: string[] },
    caller: { principal: Principal | undefined; requestId: string; sourceIp: string; userAgent: string },
  ): Promise<{ jobs: UpdateJobView[]; refused: { device: string; code: string; message: string }[] }> {
    const release = await this.pickRelease(input.version);
    const names = input.devices ?? (await this.repo.registeredDevices(project)).map((d) => d.name);
    const jobs: UpdateJobView[] = [];
    const refused: { device: string; code: string; message: string }[] = [];
    for (const name of names) {
      try {
        jobs.push(await this.createUpdate(project, name, release.version, caller.principal?.name ?? ''));
      } catch (err) {
        if (!isSightlineError(err)) throw err;
        const code = err.code;
        refused.push({ device: name, code, message: err.message });
        await this.audit.record({
          requestId: caller.requestId,
          time: this.clock.now(),
          principal: { type: caller.principal?.type ?? 'user', id: caller.principal?.id ?? '', name: caller.principal?.name ?? '' },
          action: 'device:UpdateSoftware',
          resource: `srn:sightline:${project}:device/${name}`,
          sourceIp: caller.sourceIp,
          userAgent: caller.userAgent,
          outcome: 'failed',
          errorCode: code,
          parameters: { version: release.version },
        });
      }
    }
    return { jobs, refused };
  }

  /** One job with its progress; with `wait`, answers when its etag differs from `since` (long-poll, ≤ 30 s). */
  async job(project: string, name: string, id: string, waitSeconds: number, since: string | undefined, signal: AbortSignal): Promise<UpdateJobView> {
    const device = await this.repo.device(project, name);
    if (device === undefined) throw new DeviceError('DEVICE_NOT_FOUND', `No device named "${name}" in project ${project}.`);
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const row = await this.repo.job(device.id, id);
      if (row === undefined) throw new ReleaseServiceError('UPDATE_JOB_NOT_FOUND', `No job ${id} on device ${name}.`);
      const v = jobView(name, row);
      if (since === undefined || v.etag !== since || Date.now() >= deadline || signal.aborted) return v;
      // Re-read rather than subscribe: the device's report may land on another replica.
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(0, deadline - Date.now()))));
    }
  }

  /** For the periodic sweep: logs a failed maintenance round (the next round retries). */
  logFailure(what: string, err: unknown): void {
    this.logger.warn(what, { error: isSightlineError(err) ? err.code : String(err) });
  }
}
