import { randomUUID } from 'node:crypto';
import { packageKeyId, PackageSigningError, verifyPackageManifest } from '@sightline/core';
import { appManifestApi, appsApi } from '@sightline/protocol';
import { appDescriptorSchema } from '@sightline/sdk';
import type { ArtifactRepository } from '../artifacts/artifact.repository.js';
import type { Clock } from '../clock.js';
import type { Principal } from '../http/router.js';
import type { PackageVersionsTable, SigningKeysTable } from '../storage/schema.js';
import { isUniqueViolation } from '../storage/store.js';
import { PackageError } from './package-errors.js';
import type { PackageRepository } from './package.repository.js';

type PackageSignature = appsApi.PackageSignature;
type PackageFile = appsApi.PackageFile;

/** The largest manifest accepted (protocol `packageRef.manifestB64` allows 2 MiB of base64). */
export const MAX_MANIFEST_BYTES = 1536 * 1024;

/** The artifact that holds a package file's bytes: content-addressed, so one upload serves every version. */
export const blobArtifactName = (sha256: string): string => `packages/blobs/${sha256}`;

export interface PackageVersionView {
  name: string;
  version: string;
  kind: appsApi.PackageKind;
  keyId: string;
  /** The registered signing key's name, or null when the signer is not registered. */
  signer: string | null;
  files: PackageFile[];
  bytes: number;
  createdAt: string;
  createdBy: string;
}

export interface SigningKeyView {
  name: string;
  keyId: string;
  publicKey: string;
  createdAt: string;
  createdBy: string;
}

export interface PackagePolicyView {
  requireSignedBy: string[];
  keyIds: string[];
  updatedAt: string | null;
  updatedBy: string | null;
}

/** What a deployment needs of a version: its descriptor and the signed manifest the device verifies. */
export interface DeployablePackage {
  kind: appsApi.PackageKind;
  name: string;
  version: string;
  descriptor: unknown;
  files: PackageFile[];
  ref: appsApi.PackageRef;
}

const label = (p: Principal): string => `${p.type}:${p.name}`;

/** Semantic-version order (SemVer 2.0.0 §11): numbers numerically, a pre-release before its release. */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number[], string | undefined] => {
    const dash = v.indexOf('-');
    const core = (dash < 0 ? v : v.slice(0, dash)).split('.').map(Number);
    return [core, dash < 0 ? undefined : v.slice(dash + 1)];
  };
  const [ca, pa] = split(a);
  const [cb, pb] = split(b);
  for (let i = 0; i < 3; i++) {
    const d = (ca[i] ?? 0) - (cb[i] ?? 0);
    if (d !== 0) return d;
  }
  if (pa === pb) return 0;
  if (pa === undefined) return 1;
  if (pb === undefined) return -1;
  return pa < pb ? -1 : 1;
}

function manifestInvalid(where: string, message: string): PackageError {
  return new PackageError('PACKAGE_MANIFEST_INVALID', `The package manifest is invalid at ${where}: ${message}`, { details: { path: where } });
}

function parseDescriptor(kind: appsApi.PackageKind, descriptor: unknown): { name: string; version: string; value: unknown } {
  const parsed = kind === 'code' ? appDescriptorSchema.safeParse(descriptor) : appsApi.modelDescriptor.safeParse(descriptor);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw manifestInvalid(appManifestApi.formatPath(issue?.path ?? [], 'descriptor'), issue?.message ?? 'invalid');
  }
  return { name: parsed.data.name, version: parsed.data.version, value: parsed.data };
}

/**
 * Packages (issue 6): signed, immutable versions whose files live in the
 * artifact store as content-addressed blobs; publisher signing keys (public
 * halves); and the project's package policy (which signers it trusts).
 */
export class PackageService {
  constructor(
    private readonly repo: PackageRepository,
    private readonly artifacts: ArtifactRepository,
    private readonly clock: Clock,
  ) {}

  private versionView(r: PackageVersionsTable, signer: string | null): PackageVersionView {
    return {
      name: r.name,
      version: r.version,
      kind: r.kind,
      keyId: r.key_id,
      signer,
      files: JSON.parse(r.files) as PackageFile[],
      bytes: Number(r.bytes),
      createdAt: new Date(Number(r.created_at)).toISOString(),
      createdBy: r.created_by,
    };
  }

  private async signerName(project: string, keyId: string): Promise<string | null> {
    return (await this.repo.findKeyById(project, keyId))?.name ?? null;
  }

  /** The key ids the project trusts; empty means any valid signature. */
  async trustedKeyIds(project: string): Promise<string[]> {
    return (await this.policy(project)).keyIds;
  }

  /**
   * Registers a package version. One straight line of checks, each throwing
   * (nothing is written unless all pass): the signature verifies over the
   * exact bytes (and names a trusted signer when the project lists keys), the
   * manifest and its descriptor fit their schemas, every file's blob is
   * stored with the signed length and SHA-256, and the version is new.
   */
  async push(caller: Principal, project: string, manifestB64: string, signature: PackageSignature): Promise<PackageVersionView> {
    const bytes = Buffer.from(manifestB64, 'base64');
    if (bytes.length === 0 || bytes.length > MAX_MANIFEST_BYTES || bytes.toString('base64') !== manifestB64) {
      throw manifestInvalid('manifestB64', `send the manifest file's bytes as standard base64 (at most ${MAX_MANIFEST_BYTES} bytes).`);
    }
    // Verify before parsing: bytes nobody trusted are never interpreted (as the agent does).
    const keyId = verifyPackageManifest(bytes, signature, await this.trustedKeyIds(project));
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new PackageError('PACKAGE_MANIFEST_INVALID', 'The package manifest is not JSON.', { cause: err, details: { path: '(root)' } });
    }
    const parsed = appsApi.packageManifest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw manifestInvalid(appManifestApi.formatPath(issue?.path ?? []), issue?.message ?? 'invalid');
    }
    const manifest = parsed.data;
    const descriptor = parseDescriptor(manifest.kind, manifest.descriptor);
    if (descriptor.name !== manifest.name || descriptor.version !== manifest.version) {
      throw manifestInvalid('descriptor', `the descriptor names ${descriptor.name}@${descriptor.version}, the manifest ${manifest.name}@${manifest.version}.`);
    }
    const paths = new Set<string>();
    manifest.files.forEach((f, i) => {
      if (paths.has(f.path)) throw manifestInvalid(`files[${i}].path`, `"${f.path}" is listed twice.`);
      paths.add(f.path);
    });
    if (manifest.kind === 'model') {
      const file = (descriptor.value as appsApi.ModelDescriptor).file;
      if (!paths.has(file)) throw manifestInvalid('descriptor.file', `the model file "${file}" is not among the package's files.`);
    }
    const existingKind = await this.repo.kindOf(project, manifest.name);
    if (existingKind !== undefined && existingKind !== manifest.kind) {
      throw new PackageError('PACKAGE_KIND_MISMATCH', `Package "${manifest.name}" holds ${existingKind} versions; a ${manifest.kind} package needs another name.`);
    }
    if ((await this.repo.findVersion(project, manifest.name, manifest.version)) !== undefined) throw this.exists(manifest.name, manifest.version);
    let total = 0;
    for (const [i, f] of manifest.files.entries()) {
      const blob = await this.artifacts.find(project, blobArtifactName(f.sha256));
      if (blob === undefined) {
        throw new PackageError(
          'PACKAGE_BLOB_MISSING',
          `File ${f.path} (sha256 ${f.sha256}) was not uploaded: upload it as artifact ${blobArtifactName(f.sha256)} first ("sightline package push" does).`,
          { details: { path: `files[${i}]`, sha256: f.sha256 } },
        );
      }
      // The artifact store recorded the plaintext's length and SHA-256 as it stored the bytes.
      if (Number(blob.size) !== f.bytes || blob.sha256 !== f.sha256) {
        throw new PackageError('PACKAGE_BLOB_MISMATCH', `The stored blob for ${f.path} differs from the manifest (length or SHA-256); upload it again.`, {
          details: { path: `files[${i}]`, sha256: f.sha256 },
        });
      }
      total += f.bytes;
    }
    const row: PackageVersionsTable = {
      id: randomUUID(),
      project,
      name: manifest.name,
      version: manifest.version,
      kind: manifest.kind,
      manifest_b64: manifestB64,
      signature: JSON.stringify(signature),
      key_id: keyId,
      descriptor: JSON.stringify(descriptor.value),
      files: JSON.stringify(manifest.files),
      bytes: total,
      created_at: this.clock.now(),
      created_by: label(caller),
    };
    try {
      await this.repo.insertVersion(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw this.exists(manifest.name, manifest.version, err);
      throw err;
    }
    return this.versionView(row, await this.signerName(project, keyId));
  }

  private exists(name: string, version: string, cause?: unknown): PackageError {
    return new PackageError('PACKAGE_VERSION_EXISTS', `${name}@${version} already exists; versions are immutable, so push a new version.`, {
      ...(cause === undefined ? {} : { cause }),
      details: { name, version },
    });
  }

  async list(project: string): Promise<{ name: string; kind: appsApi.PackageKind; latestVersion: string; versions: number }[]> {
    const byName = new Map<string, { name: string; kind: appsApi.PackageKind; latestVersion: string; versions: number }>();
    for (const r of await this.repo.listVersions(project)) {
      const entry = byName.get(r.name);
      if (entry === undefined) byName.set(r.name, { name: r.name, kind: r.kind, latestVersion: r.version, versions: 1 });
      else {
        entry.versions += 1;
        if (compareVersions(r.version, entry.latestVersion) > 0) entry.latestVersion = r.version;
      }
    }
    return [...byName.values()];
  }

  async describe(project: string, name: string): Promise<{ name: string; kind: appsApi.PackageKind; versions: PackageVersionView[] }> {
    const rows = await this.repo.versions(project, name);
    const first = rows[0];
    if (first === undefined) throw this.notFound(project, name);
    const keys = new Map((await this.repo.keys(project)).map((k) => [k.key_id, k.name]));
    const versions = rows.map((r) => this.versionView(r, keys.get(r.key_id) ?? null)).sort((a, b) => compareVersions(a.version, b.version));
    return { name, kind: first.kind, versions };
  }

  async version(project: string, name: string, version: string): Promise<PackageVersionView> {
    const row = await this.repo.findVersion(project, name, version);
    if (row === undefined) throw this.notFound(project, name, version);
    return this.versionView(row, await this.signerName(project, row.key_id));
  }

  private notFound(project: string, name: string, version?: string): PackageError {
    return new PackageError(
      'PACKAGE_NOT_FOUND',
      `No package ${version === undefined ? `"${name}"` : `${name}@${version}`} in project ${project}; "sightline package ls" lists them.`,
    );
  }

  /** A version as deployments use it, or undefined; `packageExists` tells a missing version from a missing package. */
  async deployable(project: string, name: string, version: string): Promise<DeployablePackage | { packageExists: boolean }> {
    const row = await this.repo.findVersion(project, name, version);
    if (row === undefined) return { packageExists: (await this.repo.kindOf(project, name)) !== undefined };
    return {
      kind: row.kind,
      name: row.name,
      version: row.version,
      descriptor: JSON.parse(row.descriptor) as unknown,
      files: JSON.parse(row.files) as PackageFile[],
      ref: { kind: row.kind, name: row.name, version: row.version, manifestB64: row.manifest_b64, signature: JSON.parse(row.signature) as PackageSignature },
    };
  }

  private keyView(r: SigningKeysTable): SigningKeyView {
    return { name: r.name, keyId: r.key_id, publicKey: r.public_key, createdAt: new Date(Number(r.created_at)).toISOString(), createdBy: r.created_by };
  }

  async createKey(caller: Principal, project: string, name: string, publicKey: string): Promise<SigningKeyView> {
    const raw = Buffer.from(publicKey, 'base64');
    if (raw.length !== 32 || raw.toString('base64') !== publicKey) {
      throw new PackageSigningError('PACKAGE_KEY_INVALID', 'publicKey must be the raw 32-byte Ed25519 public key in base64.', { details: { field: 'publicKey' } });
    }
    const row: SigningKeysTable = {
      id: randomUUID(),
      project,
      name,
      key_id: packageKeyId(raw),
      public_key: publicKey,
      created_at: this.clock.now(),
      created_by: label(caller),
    };
    try {
      await this.repo.insertKey(row);
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new PackageError('ALREADY_EXISTS', `A signing key named "${name}", or with key id ${row.key_id}, is already registered in project ${project}.`, {
          cause: err,
        });
      }
      throw err;
    }
    return this.keyView(row);
  }

  async keys(project: string): Promise<SigningKeyView[]> {
    return (await this.repo.keys(project)).map((k) => this.keyView(k));
  }

  private async key(project: string, name: string): Promise<SigningKeysTable> {
    const row = await this.repo.findKey(project, name);
    if (row === undefined) {
      throw new PackageError('SIGNING_KEY_NOT_FOUND', `No signing key named "${name}" in project ${project}; "sightline signing-key ls" lists them.`, {
        details: { name },
      });
    }
    return row;
  }

  /** Deletes a key; refused while the package policy lists it (so a listed name can never be re-pointed at another key). */
  async deleteKey(project: string, name: string): Promise<void> {
    const row = await this.key(project, name);
    if ((await this.policy(project)).keyIds.includes(row.key_id)) {
      throw new PackageError('SIGNING_KEY_IN_USE', `The package policy requires signatures by "${name}"; remove it from the policy first.`);
    }
    await this.repo.deleteKey(row.id);
  }

  async policy(project: string): Promise<PackagePolicyView> {
    const row = await this.repo.policy(project);
    if (row === undefined) return { requireSignedBy: [], keyIds: [], updatedAt: null, updatedBy: null };
    const keys = JSON.parse(row.require_signed_by) as { name: string; keyId: string }[];
    return {
      requireSignedBy: keys.map((k) => k.name),
      keyIds: keys.map((k) => k.keyId),
      updatedAt: new Date(Number(row.updated_at)).toISOString(),
      updatedBy: row.updated_by,
    };
  }

  /** Sets the trusted signers by key name; the key ids are fixed now, so later key changes cannot widen trust. */
  async setPolicy(caller: Principal, project: string, names: readonly string[]): Promise<PackagePolicyView> {
    const keys: { name: string; keyId: string }[] = [];
    for (const name of new Set(names)) keys.push({ name, keyId: (await this.key(project, name)).key_id });
    await this.repo.putPolicy({ project, require_signed_by: JSON.stringify(keys), updated_at: this.clock.now(), updated_by: label(caller) });
    return this.policy(project);
  }
}
