import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata, MetadataKind, type Snapshot, type TargetFile, type Timestamp } from '@tufjs/models';
import { Updater } from 'tuf-js';
import type { Fetcher } from '../client/fetcher.js';
import { processAlive } from '../storage/lock.js';
import type { EncryptedStore } from '../storage/store.js';
import { openBundle, type BundleManifest } from './bundle.js';
import { UpdateError } from './errors.js';
import { checkRelease, loadRoot, loadTargets, parseMetadataJson, targetName, verifyTargetFile, type SightlineCustom } from './release.js';
import { otherSlot, type SlotsDir, UpdateRecords, type SlotName } from './slots.js';
import { MtlsTufFetcher, TUF_METADATA_URL, TUF_TARGETS_URL } from './tuf-fetcher.js';

/** The trusted TUF metadata, sealed in the agent's store (raw bytes as the repository signed them). */
export const TUF_RECORDS = { root: 'tuf-root', timestamp: 'tuf-timestamp', snapshot: 'tuf-snapshot', targets: 'tuf-targets' } as const;
type TufRole = keyof typeof TUF_RECORDS;
const ROLES: readonly TufRole[] = ['root', 'timestamp', 'snapshot', 'targets'];

export type UpdateStage = 'downloading' | 'verifying' | 'installing' | 'rebooting' | 'health-check';
export interface UpdateProgress {
  stage: UpdateStage;
  bytesDone?: number;
  bytesTotal?: number;
}

export interface UpdaterDeps {
  store: EncryptedStore;
  slots: SlotsDir;
  agentVersion: string;
  now: () => Date;
  onProgress?: (p: UpdateProgress) => void;
  metadataTimeoutMs?: number;
  targetTimeoutMs?: number;
}

/** A release that passed every check, staged in a work folder, not yet installed. */
export interface PreparedRelease {
  version: string;
  custom: SightlineCustom;
  target: TargetFile;
  manifest: BundleManifest;
  workDir: string;
  /** Verified metadata to keep (remote refresh only). */
  metadata: Partial<Record<TufRole, Buffer>>;
  root: Buffer;
  targets: Buffer;
}

/**
 * Stores the trusted root the device was provisioned with (the archive's
 * `tufRoot`). Issue 7: the appliance trusts that root and roots chained from
 * it only, so a stored root is never replaced by this call (tuf-js rotates it
 * by chained versions during a refresh).
 */
export async function installTrustedRoot(store: EncryptedStore, rootJson: Uint8Array): Promise<void> {
  loadRoot(rootJson, 'the provisioned TUF root');
  const existing = await store.read(TUF_RECORDS.root);
  if (existing !== undefined) {
    if (Buffer.compare(existing, Buffer.from(rootJson)) === 0) return;
    throw new UpdateError('UPDATE_ROOT_INVALID', 'A trusted TUF root is already stored; it changes only by a signed root rotation.');
  }
  await store.write(TUF_RECORDS.root, rootJson);
}

/** Turns whatever tuf-js threw into a typed error with a stable code (it wraps some errors into plain strings). */
export function classifyTufError(err: unknown, fetcher?: MtlsTufFetcher): UpdateError {
  if (err instanceof UpdateError) return err;
  if (fetcher?.lastError !== undefined) return fetcher.lastError;
  const name = err instanceof Error ? err.constructor.name : '';
  const text = err instanceof Error ? `${name}: ${err.message}` : String(err);
  const make = (code: ConstructorParameters<typeof UpdateError>[0], what: string): UpdateError =>
    new UpdateError(code, `${what} (${text.slice(0, 300)}).`, { cause: err });
  if (/expired/i.test(text))
    return make('UPDATE_METADATA_EXPIRED', 'The update metadata has expired (a freeze attack or a repository left unsigned); refused');
  if (/does not match snapshot version|doesn't match timestamp|Missing .* in (new )?snapshot/i.test(text))
    return make('UPDATE_METADATA_MISMATCH', 'The snapshot and targets metadata disagree (mix-and-match); refused');
  if (/less than current version|Expected version/i.test(text))
    return make('UPDATE_METADATA_ROLLBACK', 'The update metadata is older than what this device already trusts (rollback attack); refused');
  if (/UnsignedMetadataError|signed by|signature/i.test(text))
    return make(
      'UPDATE_SIGNATURE_INVALID',
      'The update metadata is not signed by the keys the trusted root lists, up to their threshold; refused',
    );
  if (/LengthOrHashMismatch|length|hash/i.test(text))
    return make('UPDATE_TARGET_MISMATCH', 'The download does not match its signed length and hash; refused');
  return make('UPDATE_METADATA_INVALID', 'The update metadata was refused');
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

const WORK_PREFIX = '.work-';
/** A work folder without a pid in its name (made before names carried one) is stale after this long. */
const UNNAMED_WORK_STALE_MS = 24 * 3600_000;

/**
 * Removes the work folders that a process killed mid-update left in the
 * slots directory (each holds up to a whole bundle, unpacked): those whose
 * process (the pid in the name, `.work-PID-XXXXXX`) is gone, and unnamed
 * ones older than a day. Folders of live processes (the running agent, a
 * `sightline-agent update --bundle` beside it) are left alone. Returns the
 * names removed.
 *
 * @example
 * ```ts
 * await sweepStaleWork('/var/lib/sightline/slots'); // ['.work-4242-Xb12Qz']
 * ```
 */
export async function sweepStaleWork(root: string, now: number = Date.now()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(WORK_PREFIX)) continue;
    const pid = /^\.work-(\d+)-/.exec(name)?.[1];
    let stale: boolean;
    if (pid !== undefined) stale = Number(pid) !== process.pid && !processAlive(Number(pid));
    else stale = now - (await stat(join(root, name)).catch(() => ({ mtimeMs: now }))).mtimeMs > UNNAMED_WORK_STALE_MS;
    if (!stale) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * The appliance side of signed updates (issue 7): refresh the TUF repository
 * through tuf-js over the agent's mTLS client, pick the release's target,
 * apply Sightline's checks (floor, minimum agent version), download and verify
 * the bundle, and only then write anything: the inactive slot, its sealed
 * record, the trusted metadata and the trial flag.
 */
export class AgentUpdater {
  private readonly records: UpdateRecords;

  constructor(private readonly d: UpdaterDeps) {
    this.records = new UpdateRecords(d.store);
  }

  /** A fresh work folder in the slots directory, named for this process; stale ones are removed first. */
  private async workDir(): Promise<string> {
    await mkdir(this.d.slots.root, { recursive: true, mode: 0o755 });
    await sweepStaleWork(this.d.slots.root);
    return mkdtemp(join(this.d.slots.root, `${WORK_PREFIX}${process.pid}-`));
  }

  private async trustedRoot(): Promise<Buffer> {
    const root = await this.d.store.read(TUF_RECORDS.root);
    if (root === undefined)
      throw new UpdateError(
        'UPDATE_NOT_CONFIGURED',
        'This device has no trusted TUF root (the configuration archive carried none); provision it again from a control plane that publishes releases.',
      );
    return root;
  }

  /** Refreshes the repository over mTLS and stages release `version`. Throws a typed error; writes nothing but the work folder. */
  async prepareRemote(version: string, fetcher: Fetcher): Promise<PreparedRelease> {
    const name = targetName(version);
    const work = await this.workDir();
    try {
      const metaDir = join(work, 'metadata');
      await mkdir(metaDir);
      for (const role of ROLES) {
        const bytes = role === 'root' ? await this.trustedRoot() : await this.d.store.read(TUF_RECORDS[role]);
        if (bytes !== undefined) await writeFile(join(metaDir, `${role}.json`), bytes);
      }
      const tufFetcher = new MtlsTufFetcher(fetcher, {
        workDir: work,
        metadataTimeoutMs: this.d.metadataTimeoutMs ?? 30_000,
        targetTimeoutMs: this.d.targetTimeoutMs ?? 15 * 60_000,
        onTargetBytes: (done, total) => this.d.onProgress?.({ stage: 'downloading', bytesDone: done, bytesTotal: total }),
      });
      const updater = new Updater({
        metadataDir: metaDir,
        metadataBaseUrl: TUF_METADATA_URL,
        targetBaseUrl: TUF_TARGETS_URL,
        targetDir: work,
        fetcher: tufFetcher,
        config: { prefixTargetsWithHash: true },
      });
      let target: TargetFile | undefined;
      try {
        // TUF 5.3-5.6: root rotation, timestamp, snapshot, targets, each checked by tuf-js.
        await updater.refresh();
        target = await updater.getTargetInfo(name);
      } catch (err) {
        throw classifyTufError(err, tufFetcher);
      }
      if (target === undefined)
        throw new UpdateError('UPDATE_TARGET_NOT_FOUND', `The signed targets list no release ${version} (${name}); publish it first.`);
      const custom = checkRelease(target, { version, floor: await this.records.floor(), agentVersion: this.d.agentVersion });
      this.d.onProgress?.({ stage: 'downloading', bytesDone: 0, bytesTotal: target.length });
      const bundle = join(work, 'bundle.tar');
      try {
        // TUF 5.7.3: tuf-js checks the length and hashes before handing the file over.
        await updater.downloadTarget(target, bundle);
      } catch (err) {
        throw classifyTufError(err, tufFetcher);
      }
      const metadata: Partial<Record<TufRole, Buffer>> = {};
      for (const role of ROLES) metadata[role] = await readFile(join(metaDir, `${role}.json`));
      return await this.stage(work, target, custom, metadata, metadata.root ?? Buffer.alloc(0), metadata.targets ?? Buffer.alloc(0));
    } catch (err) {
      await rm(work, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * A bundle from a file (`sightline-agent update --bundle FILE`): it must be
   * one of the targets in the stored, signed metadata (by length and
   * SHA-256), and it passes the same checks as a download, floor included.
   */
  async prepareLocal(bundlePath: string): Promise<PreparedRelease> {
    const stored = await this.storedMetadata();
    const work = await this.workDir();
    try {
      const copy = join(work, 'bundle.tar');
      await copyFile(bundlePath, copy); // checked as copied, so the file cannot change under the checks
      const size = (await stat(copy)).size;
      const sha = await sha256File(copy);
      const target = Object.values(stored.targetsMeta.signed.targets).find(
        (t) => t.length === size && t.hashes.sha256 === sha && /^sightline-agent-.+\.tar$/.test(t.path),
      );
      if (target === undefined)
        throw new UpdateError(
          'UPDATE_BUNDLE_UNKNOWN',
          `${bundlePath} is not a release in this device's signed targets metadata (sha256 ${sha.slice(0, 16)}…); only signed releases install.`,
        );
      await verifyTargetFile(target, copy);
      const custom = checkRelease(target, { floor: await this.records.floor(), agentVersion: this.d.agentVersion });
      return await this.stage(work, target, custom, {}, stored.root, stored.targets);
    } catch (err) {
      await rm(work, { recursive: true, force: true });
      throw err;
    }
  }

  /** The stored metadata, checked again as a chain (signatures, versions, expiry) before a local install trusts it. */
  private async storedMetadata(): Promise<{ root: Buffer; targets: Buffer; targetsMeta: ReturnType<typeof loadTargets> }> {
    const root = await this.trustedRoot();
    const bytes: Partial<Record<TufRole, Buffer | undefined>> = {};
    for (const role of ['timestamp', 'snapshot', 'targets'] as const) bytes[role] = await this.d.store.read(TUF_RECORDS[role]);
    if (bytes.timestamp === undefined || bytes.snapshot === undefined || bytes.targets === undefined)
      throw new UpdateError(
        'UPDATE_NOT_CONFIGURED',
        'This device has not fetched the release metadata yet; connect it to the control plane once (an update job) before a local install.',
      );
    const rootMeta = loadRoot(root);
    const now = this.d.now();
    let ts: Metadata<Timestamp>;
    let snap: Metadata<Snapshot>;
    try {
      ts = Metadata.fromJSON(MetadataKind.Timestamp, parseMetadataJson(bytes.timestamp, 'timestamp') as never);
      snap = Metadata.fromJSON(MetadataKind.Snapshot, parseMetadataJson(bytes.snapshot, 'snapshot') as never);
      rootMeta.verifyDelegate(MetadataKind.Timestamp, ts);
      rootMeta.verifyDelegate(MetadataKind.Snapshot, snap);
    } catch (err) {
      throw classifyTufError(err);
    }
    const targetsMeta = loadTargets(rootMeta, bytes.targets);
    // TUF 5.4.3.x / 5.5.x / 5.6.2: the stored chain must still agree with itself.
    if (ts.signed.snapshotMeta.version !== snap.signed.version || snap.signed.meta['targets.json']?.version !== targetsMeta.signed.version)
      throw new UpdateError('UPDATE_METADATA_MISMATCH', 'The stored timestamp, snapshot and targets metadata disagree; fetch them again.');
    for (const [role, m] of [
      ['root', rootMeta],
      ['timestamp', ts],
      ['snapshot', snap],
      ['targets', targetsMeta],
    ] as const)
      if (m.signed.isExpired(now))
        throw new UpdateError(
          'UPDATE_METADATA_EXPIRED',
          `The stored ${role} metadata expired at ${m.signed.expires}; connect the device to the control plane to refresh it, then install.`,
        );
    return { root, targets: bytes.targets, targetsMeta };
  }

  private async stage(
    work: string,
    target: TargetFile,
    custom: SightlineCustom,
    metadata: Partial<Record<TufRole, Buffer>>,
    root: Buffer,
    targets: Buffer,
  ): Promise<PreparedRelease> {
    this.d.onProgress?.({ stage: 'verifying' });
    // The bundle's own manifest: exactly its files, each with its hash; then it is unpacked into the work folder.
    const manifest = await openBundle(join(work, 'bundle.tar'), join(work, 'files'));
    if (manifest.version !== custom.version)
      throw new UpdateError(
        'UPDATE_BUNDLE_INVALID',
        `The bundle says it is version ${manifest.version}; its signed metadata says ${custom.version}.`,
      );
    return { version: custom.version, custom, target, manifest, workDir: work, metadata, root, targets };
  }

  /** Discards a prepared release. */
  async discard(p: PreparedRelease): Promise<void> {
    await rm(p.workDir, { recursive: true, force: true });
  }

  /**
   * Installs a prepared release into the inactive slot and marks it for a
   * trial boot. Every check has passed by now; the floor is read again under
   * the lock in case it rose meanwhile.
   */
  async install(p: PreparedRelease, jobId?: string): Promise<{ slot: SlotName; version: string }> {
    const unlock = await this.d.slots.lock();
    try {
      const state = await this.d.slots.readState();
      if (state.trial !== undefined)
        throw new UpdateError(
          'UPDATE_BUSY',
          `Release ${state.trial.version} is still on trial in slot ${state.trial.slot}; wait for it to commit or revert.`,
        );
      const floor = await this.records.floor();
      if (p.custom.securityVersion < floor) checkRelease(p.target, { floor, agentVersion: this.d.agentVersion });
      this.d.onProgress?.({ stage: 'installing' });
      const slot: SlotName = state.active === undefined ? 'a' : otherSlot(state.active);
      const dir = this.d.slots.slot(slot);
      await this.records.removeSlot(slot);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await rename(join(p.workDir, 'files'), this.d.slots.files(slot));
      await rename(join(p.workDir, 'bundle.tar'), this.d.slots.bundle(slot));
      const now = this.d.now().toISOString();
      await this.records.writeSlot(slot, {
        v: 1,
        version: p.version,
        target: p.target.path,
        securityVersion: p.custom.securityVersion,
        required: p.custom.required,
        root: p.root.toString('utf8'),
        targets: p.targets.toString('utf8'),
        installedAt: now,
      });
      for (const role of ROLES) {
        const bytes = p.metadata[role];
        if (bytes !== undefined) await this.d.store.write(TUF_RECORDS[role], bytes);
      }
      await this.d.slots.writeState({
        ...state,
        trial: { slot, version: p.version, attempts: 0, since: now, ...(jobId === undefined ? {} : { jobId }) },
      });
      return { slot, version: p.version };
    } finally {
      await unlock();
      await rm(p.workDir, { recursive: true, force: true });
    }
  }
}
