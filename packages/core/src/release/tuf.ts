import { Metadata, MetadataKind, MetaFile, Root, Snapshot, Targets, TargetFile, Timestamp, type Key } from '@tufjs/models';
import { createHash } from 'node:crypto';
import { ReleaseError } from './errors.js';
import type { ReleaseSigner } from './keys.js';
import { isReleaseVersion } from './bundle.js';

export const SPEC_VERSION = '1.0.31';
/** Lifetimes, days: offline roles live long, online roles short (a stale timestamp is a freeze). */
export const EXPIRY_DAYS = { root: 365, targets: 90, snapshot: 7, timestamp: 1 } as const;
/** Caps on metadata read from outside (as tuf-js's config). */
export const METADATA_MAX_BYTES = { root: 512 * 1024, timestamp: 16 * 1024, snapshot: 2 * 1024 * 1024, targets: 5 * 1024 * 1024 } as const;

export type RoleName = 'root' | 'targets' | 'snapshot' | 'timestamp';
type Signed = Root | Targets | Snapshot | Timestamp;
export interface KindMap {
  root: Root;
  targets: Targets;
  snapshot: Snapshot;
  timestamp: Timestamp;
}

/** Sightline's own fields in a target's `custom.sightline`. */
export interface SightlineTargetCustom {
  version: string;
  securityVersion: number;
  required: boolean;
  minAgentVersion?: string;
}

export function expiresAt(now: Date, days: number): string {
  return new Date(now.getTime() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function role(keys: Key[], threshold: number, name: string): { keyids: string[]; threshold: number } {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > keys.length) {
    throw new ReleaseError('METADATA_INVALID', `The ${name} role needs a threshold between 1 and its ${keys.length} keys.`, { details: { role: name } });
  }
  return { keyids: keys.map((k) => k.keyID), threshold };
}

export interface RootKeys {
  root: Key[];
  rootThreshold: number;
  targets: Key[];
  targetsThreshold: number;
  snapshot: Key[];
  timestamp: Key[];
}

/** Root metadata (unsigned) listing each role's keys; consistent snapshots on. */
export function buildRoot(keys: RootKeys, version: number, now: Date): Metadata<Root> {
  const all: Record<string, ReturnType<Key['toJSON']>> = {};
  for (const k of [...keys.root, ...keys.targets, ...keys.snapshot, ...keys.timestamp]) all[k.keyID] = k.toJSON();
  // @tufjs/models does not export Role; Root.fromJSON builds the roles from their JSON form.
  const root = Root.fromJSON({
    _type: 'root',
    version,
    spec_version: SPEC_VERSION,
    expires: expiresAt(now, EXPIRY_DAYS.root),
    consistent_snapshot: true,
    keys: all,
    roles: {
      root: role(keys.root, keys.rootThreshold, 'root'),
      targets: role(keys.targets, keys.targetsThreshold, 'targets'),
      snapshot: role(keys.snapshot, 1, 'snapshot'),
      timestamp: role(keys.timestamp, 1, 'timestamp'),
    },
  });
  return new Metadata(root);
}

/** The keys of `role` in `root`, in role order. */
export function roleKeys(root: Root, name: RoleName): Key[] {
  const r = root.roles[name];
  if (r === undefined) throw new ReleaseError('METADATA_INVALID', `The root lists no ${name} role.`);
  return r.keyIDs.map((id) => {
    const k = root.keys[id];
    if (k === undefined) throw new ReleaseError('METADATA_INVALID', `The root's ${name} role names key ${id}, which it does not list.`);
    return k;
  });
}

/** The next root: same keys as `current` except those `change` replaces. */
export function nextRoot(current: Root, change: Partial<RootKeys>, now: Date): Metadata<Root> {
  return buildRoot(
    {
      root: change.root ?? roleKeys(current, 'root'),
      rootThreshold: change.rootThreshold ?? current.roles['root']?.threshold ?? 1,
      targets: change.targets ?? roleKeys(current, 'targets'),
      targetsThreshold: change.targetsThreshold ?? current.roles['targets']?.threshold ?? 1,
      snapshot: change.snapshot ?? roleKeys(current, 'snapshot'),
      timestamp: change.timestamp ?? roleKeys(current, 'timestamp'),
    },
    current.version + 1,
    now,
  );
}

/** A target entry for a release bundle, with its Sightline fields checked. */
export function releaseTarget(name: string, bytes: Uint8Array, custom: SightlineTargetCustom): TargetFile {
  return new TargetFile({
    path: name,
    length: bytes.length,
    hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
    unrecognizedFields: { custom: { sightline: { ...sightlineTargetCustom({ sightline: custom }) } } },
  });
}

/** The next targets metadata (unsigned): every earlier target plus `add`. */
export function nextTargets(previous: Targets | undefined, add: TargetFile[], now: Date): Metadata<Targets> {
  const t = new Targets({ version: (previous?.version ?? 0) + 1, specVersion: SPEC_VERSION, expires: expiresAt(now, EXPIRY_DAYS.targets), targets: { ...(previous?.targets ?? {}) } });
  for (const target of add) {
    if (t.targets[target.path] !== undefined) throw new ReleaseError('METADATA_INVALID', `Target ${target.path} is already published; releases are immutable.`, { details: { target: target.path } });
    t.addTarget(target);
  }
  return new Metadata(t);
}

export function buildSnapshot(version: number, targetsVersion: number, now: Date): Metadata<Snapshot> {
  return new Metadata(new Snapshot({ version, specVersion: SPEC_VERSION, expires: expiresAt(now, EXPIRY_DAYS.snapshot), meta: { 'targets.json': new MetaFile({ version: targetsVersion }) } }));
}

/** Timestamp pointing at the snapshot, with its length and hash (TUF 5.4.4 lets the client check them). */
export function buildTimestamp(version: number, snapshot: { version: number; bytes: Uint8Array }, now: Date, days: number = EXPIRY_DAYS.timestamp): Metadata<Timestamp> {
  return new Metadata(
    new Timestamp({
      version,
      specVersion: SPEC_VERSION,
      expires: expiresAt(new Date(now.getTime()), days),
      snapshotMeta: new MetaFile({ version: snapshot.version, length: snapshot.bytes.length, hashes: { sha256: createHash('sha256').update(snapshot.bytes).digest('hex') } }),
    }),
  );
}

export function signMetadata<T extends Signed>(md: Metadata<T>, signers: readonly ReleaseSigner[]): Metadata<T> {
  for (const s of signers) md.sign((data) => s.sign(data), true);
  return md;
}

export function metadataBytes(md: Metadata<Signed>): Buffer {
  return Buffer.from(JSON.stringify(md.toJSON()));
}

const KIND: Record<RoleName, MetadataKind> = { root: MetadataKind.Root, targets: MetadataKind.Targets, snapshot: MetadataKind.Snapshot, timestamp: MetadataKind.Timestamp };

/** Parses metadata of one role from bytes, within that role's size cap. */
export function parseMetadata<K extends RoleName>(kind: K, bytes: Uint8Array): Metadata<KindMap[K]> {
  if (bytes.length > METADATA_MAX_BYTES[kind]) throw new ReleaseError('METADATA_INVALID', `${kind}.json is larger than ${METADATA_MAX_BYTES[kind]} bytes.`, { details: { role: kind } });
  try {
    const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Parameters<typeof Metadata.fromJSON>[1];
    // The overloads of fromJSON pick the class from the kind; K ties them together.
    return (Metadata.fromJSON as (k: MetadataKind, d: typeof json) => Metadata<KindMap[K]>)(KIND[kind], json);
  } catch (err) {
    throw new ReleaseError('METADATA_INVALID', `This is not valid TUF ${kind} metadata: ${err instanceof Error ? err.message : String(err)}.`, { cause: err, details: { role: kind } });
  }
}

/**
 * TUF 5.3.4 / 5.4.2 / 5.5.3 / 5.6.3: `md` needs at least the role's threshold
 * of valid signatures by distinct keys the root lists for `name`. Stricter
 * than the spec, a signature by any key outside `allowed` (default: the
 * role's keys) is refused rather than ignored: a publisher who signs with a
 * key the root does not know has made a mistake worth stopping.
 */
export function verifyRole(root: Root, name: RoleName, md: Metadata<Signed>, allowed?: ReadonlySet<string>): void {
  const r = root.roles[name];
  if (r === undefined) throw new ReleaseError('METADATA_INVALID', `The root lists no ${name} role.`);
  const mine = new Set(r.keyIDs);
  for (const id of Object.keys(md.signatures)) {
    if (!mine.has(id) && !(allowed?.has(id) ?? false)) {
      throw new ReleaseError('METADATA_UNKNOWN_SIGNER', `The ${name} metadata carries a signature by key ${id.slice(0, 16)}…, which the trusted root does not list for ${name}.`, { details: { role: name, keyId: id } });
    }
  }
  let valid = 0;
  for (const id of r.keyIDs) {
    const key = root.keys[id];
    if (key === undefined || md.signatures[id] === undefined) continue;
    try {
      key.verifySignature(md);
      valid++;
    } catch {
      // An invalid signature does not count toward the threshold.
    }
  }
  if (valid < r.threshold) {
    throw new ReleaseError('METADATA_THRESHOLD', `The ${name} metadata has ${valid} valid signature(s) by ${name} keys; the root requires ${r.threshold}.`, { details: { role: name, valid, threshold: r.threshold } });
  }
}

/** TUF 5.3.10 and following: refuse expired metadata (freeze attack). */
export function assertNotExpired(md: Metadata<Signed>, now: Date, name: RoleName): void {
  if (md.signed.isExpired(now)) throw new ReleaseError('METADATA_EXPIRED', `The ${name} metadata expired at ${md.signed.expires}; sign a new version.`, { details: { role: name, expires: md.signed.expires } });
}

/**
 * TUF 5.3.4–5.3.5: the next root must be signed by a threshold of the
 * trusted root's root keys and by a threshold of its own, and its version
 * must be exactly one more.
 */
export function verifyRootChain(trusted: Root, next: Metadata<Root>): void {
  if (next.signed.version !== trusted.version + 1) {
    throw new ReleaseError('METADATA_VERSION', `The new root must be version ${trusted.version + 1}, not ${next.signed.version}.`, { details: { expected: trusted.version + 1, got: next.signed.version } });
  }
  const both = new Set([...(trusted.roles['root']?.keyIDs ?? []), ...(next.signed.roles['root']?.keyIDs ?? [])]);
  verifyRole(trusted, 'root', next, both);
  verifyRole(next.signed, 'root', next, both);
}

/** Reads and checks `custom.sightline` of a target (zod-free: core has no dependencies beyond crypto). */
export function sightlineTargetCustom(custom: Record<string, unknown>): SightlineTargetCustom {
  const s = custom['sightline'] as Partial<SightlineTargetCustom> | undefined;
  const bad = (field: string): ReleaseError => new ReleaseError('TARGET_CUSTOM_INVALID', `The target's custom.sightline.${field} is missing or malformed.`, { details: { field } });
  if (s === undefined || s === null || typeof s !== 'object') throw bad('(object)');
  if (typeof s.version !== 'string' || !isReleaseVersion(s.version)) throw bad('version');
  if (!Number.isSafeInteger(s.securityVersion) || (s.securityVersion ?? -1) < 0) throw bad('securityVersion');
  if (typeof s.required !== 'boolean') throw bad('required');
  if (s.minAgentVersion !== undefined && (typeof s.minAgentVersion !== 'string' || !isReleaseVersion(s.minAgentVersion))) throw bad('minAgentVersion');
  return { version: s.version, securityVersion: s.securityVersion ?? 0, required: s.required, ...(s.minAgentVersion === undefined ? {} : { minAgentVersion: s.minAgentVersion }) };
}
