import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metadata, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import {
  buildRoot,
  buildSnapshot,
  buildTimestamp,
  expiresAt,
  generateReleaseKey,
  metadataBytes,
  nextRoot,
  nextTargets,
  packBundle,
  releaseSigner,
  releaseTarget,
  signMetadata,
  bundleTargetName,
  type ReleaseSigner,
  type RootKeys,
  type SightlineTargetCustom,
} from '@sightline/core';
import { ControlPlaneFetcher } from '../../src/client/control-plane-fetcher.js';
import type { Fetcher } from '../../src/client/fetcher.js';
import { register } from '../../src/identity/register.js';
import { tlsIdentityOf } from '../../src/identity/renewal.js';
import { layout } from '../../src/storage/data-dir.js';
import { RECORD, identityRecord } from '../../src/storage/records.js';
import { RootKeyManager } from '../../src/storage/root-key.js';
import { EncryptedStore } from '../../src/storage/store.js';
import { Tpm } from '../../src/storage/tpm.js';
import { SlotsDir, UpdateRecords, type SlotName } from '../../src/update/slots.js';
import { AgentUpdater, installTrustedRoot, type UpdateProgress } from '../../src/update/updater.js';
import { sealArchive } from './archive.js';
import type { FakeControlPlane } from './fake-control-plane.js';

export interface TestRelease extends Omit<SightlineTargetCustom, 'version'> {
  version: string;
  /** Bundle files by path; a tiny agent when omitted. */
  files?: Record<string, string | Uint8Array>;
}

const signer = (): ReleaseSigner => releaseSigner(generateReleaseKey());

/** A release bundle of `files` by path (`bin/` executable); by default a tiny agent entry that prints its version. */
export function agentBundle(version: string, files?: Record<string, string | Uint8Array>): Buffer {
  const given = files ?? { 'bin/sightline-agent.js': `console.log(${JSON.stringify(version)});\n` };
  return packBundle({
    version,
    files: Object.entries(given).map(([path, data]) => ({
      path,
      data: typeof data === 'string' ? Buffer.from(data) : data,
      mode: path.startsWith('bin/') ? 0o755 : 0o644,
    })),
  });
}

/**
 * A TUF repository on disk as the control plane serves it to devices
 * (contracts: `metadata/<N>.root.json`, `timestamp.json`, `<N>.snapshot.json`,
 * `<N>.targets.json`, `targets/<sha256>.<name>`; consistent snapshots), built
 * with @tufjs/models through core's helpers. Every file can be rewritten by
 * hand, which is how the tests craft attacks.
 */
export class TestTufRepo {
  readonly keys = { root: [signer()], targets: [signer(), signer()], snapshot: [signer()], timestamp: [signer()] };
  targetsThreshold = 1;
  root!: Metadata<Root>;
  targets: Metadata<Targets> | undefined;
  snapshot: Metadata<Snapshot> | undefined;
  timestamp: Metadata<Timestamp> | undefined;
  /** Bundles by version. */
  readonly bundles = new Map<string, Buffer>();

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'metadata'), { recursive: true });
    mkdirSync(join(dir, 'targets'), { recursive: true });
  }

  static create(dir: string, o: { targetsThreshold?: number } = {}): TestTufRepo {
    const repo = new TestTufRepo(dir);
    repo.targetsThreshold = o.targetsThreshold ?? 1;
    repo.root = signMetadata(
      buildRoot(
        {
          root: repo.keys.root.map((k) => k.key),
          rootThreshold: 1,
          targets: repo.keys.targets.map((k) => k.key),
          targetsThreshold: repo.targetsThreshold,
          snapshot: repo.keys.snapshot.map((k) => k.key),
          timestamp: repo.keys.timestamp.map((k) => k.key),
        },
        1,
        new Date(),
      ),
      repo.keys.root,
    );
    repo.writeMeta('1.root.json', repo.root);
    return repo;
  }

  /** The trusted root as the provisioning archive carries it. */
  get rootBytes(): Buffer {
    return metadataBytes(this.root);
  }

  writeMeta(name: string, md: Metadata<Root | Targets | Snapshot | Timestamp> | Uint8Array): Buffer {
    const bytes = md instanceof Uint8Array ? Buffer.from(md) : metadataBytes(md);
    writeFileSync(join(this.dir, 'metadata', name), bytes);
    return bytes;
  }

  /** A bundle for `version`: by default a tiny agent entry that prints its version. */
  bundle(version: string, files?: Record<string, string | Uint8Array>): Buffer {
    return agentBundle(version, files);
  }

  /**
   * Publishes releases: adds their targets, then signs a new targets,
   * snapshot and timestamp. `sign` overrides who signs which role.
   */
  publish(
    releases: TestRelease[],
    o: {
      targetsSigners?: ReleaseSigner[];
      timestampSigners?: ReleaseSigner[];
      snapshotSigners?: ReleaseSigner[];
      timestampExpires?: string;
    } = {},
  ): void {
    const now = new Date();
    const add = releases.map((r) => {
      const bytes = this.bundle(r.version, r.files);
      this.bundles.set(r.version, bytes);
      const name = bundleTargetName(r.version);
      const target = releaseTarget(name, bytes, {
        version: r.version,
        securityVersion: r.securityVersion,
        required: r.required,
        ...(r.minAgentVersion === undefined ? {} : { minAgentVersion: r.minAgentVersion }),
      });
      writeFileSync(join(this.dir, 'targets', `${target.hashes.sha256 ?? ''}.${name}`), bytes);
      return target;
    });
    this.targets = signMetadata(
      nextTargets(this.targets?.signed, add, now),
      o.targetsSigners ?? this.keys.targets.slice(0, this.targetsThreshold),
    );
    this.writeMeta(`${this.targets.signed.version}.targets.json`, this.targets);
    this.resign(o);
  }

  /** A new snapshot and timestamp over the current targets. */
  resign(o: { timestampSigners?: ReleaseSigner[]; snapshotSigners?: ReleaseSigner[]; timestampExpires?: string } = {}): void {
    const now = new Date();
    const targetsVersion = this.targets?.signed.version ?? 1;
    this.snapshot = signMetadata(
      buildSnapshot((this.snapshot?.signed.version ?? 0) + 1, targetsVersion, now),
      o.snapshotSigners ?? this.keys.snapshot,
    );
    const snapBytes = this.writeMeta(`${this.snapshot.signed.version}.snapshot.json`, this.snapshot);
    const ts = buildTimestamp((this.timestamp?.signed.version ?? 0) + 1, { version: this.snapshot.signed.version, bytes: snapBytes }, now);
    if (o.timestampExpires !== undefined) (ts.signed as { expires: string }).expires = o.timestampExpires;
    this.timestamp = signMetadata(ts, o.timestampSigners ?? this.keys.timestamp);
    this.writeMeta('timestamp.json', this.timestamp);
  }

  /** Publishes the next root (TUF 5.3.4: the client accepts it when signed by the old and the new root keys). */
  rotateRoot(change: Partial<RootKeys>, signers: ReleaseSigner[] = this.keys.root): void {
    this.root = signMetadata(nextRoot(this.root.signed, change, new Date()), signers);
    this.writeMeta(`${this.root.signed.version}.root.json`, this.root);
  }

  /** Path of a published target file as served. */
  targetFile(version: string): string {
    const t = this.targets?.signed.targets[bundleTargetName(version)];
    if (t === undefined) throw new Error(`no target ${version}`);
    return join(this.dir, 'targets', `${t.hashes.sha256 ?? ''}.${t.path}`);
  }

  static signer = signer;
  static past = (): string => expiresAt(new Date(Date.now() - 2 * 86_400_000), 0);
}

/** A registered device (real mTLS registration with the fake control plane) ready for updates, with its trusted root stored. */
export interface UpdateDevice {
  name: string;
  dataDir: string;
  slotsDir: string;
  store: EncryptedStore;
  slots: SlotsDir;
  records: UpdateRecords;
  /** A new mTLS client as the device (close it after use). */
  fetcher: () => Fetcher;
  updater: (o?: { agentVersion?: string; onProgress?: (p: UpdateProgress) => void }) => AgentUpdater;
}

export async function updateDevice(cp: FakeControlPlane, repo: TestTufRepo | undefined, work: string, name: string): Promise<UpdateDevice> {
  const pass = 'amber-quartz-lantern-nine';
  const archive = join(work, `${name}.age`);
  writeFileSync(archive, await sealArchive(await cp.provision(name), pass));
  const dataDir = join(work, name);
  await register({
    dataDir,
    archivePath: archive,
    passphrase: pass,
    rootKeyMode: 'key-file',
    tpm: new Tpm(undefined, { PATH: '/nonexistent' }),
    fetcherFactory: (id) => new ControlPlaneFetcher(id),
    now: () => new Date(),
  });
  const root = await new RootKeyManager(dataDir, new Tpm(undefined, { PATH: '/nonexistent' })).load();
  const store = new EncryptedStore(layout(dataDir).store, root.key);
  const identity = await store.readJson(RECORD.identity, identityRecord);
  if (identity === undefined) throw new Error('not registered');
  if (repo !== undefined) await installTrustedRoot(store, repo.rootBytes);
  const slotsDir = join(work, `${name}-slots`);
  const slots = new SlotsDir(slotsDir);
  return {
    name,
    dataDir,
    slotsDir,
    store,
    slots,
    records: new UpdateRecords(store),
    fetcher: () => new ControlPlaneFetcher(tlsIdentityOf(identity)),
    updater: (o = {}) =>
      new AgentUpdater({
        store,
        slots,
        agentVersion: o.agentVersion ?? '1.0.0',
        now: () => new Date(),
        ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
      }),
  };
}

/** Downloads, checks and installs `version` on trial, as an update job does. */
export async function remoteInstall(dev: UpdateDevice, version: string, jobId?: string): Promise<{ slot: SlotName; version: string }> {
  const fetcher = dev.fetcher();
  try {
    const updater = dev.updater();
    return await updater.install(await updater.prepareRemote(version, fetcher), jobId);
  } finally {
    fetcher.close();
  }
}

/** Every file of the device's sealed store and slots, by path → SHA-256: equal snapshots mean nothing was written. */
export function stateSnapshot(dev: UpdateDevice): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(layout(dev.dataDir).store);
  walk(dev.slotsDir);
  return out;
}
