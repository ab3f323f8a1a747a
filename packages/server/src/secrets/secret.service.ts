import { randomUUID } from 'node:crypto';
import { EnvelopeError, open, seal } from '@sightline/core';
import type { Clock } from '../clock.js';
import type { KeyCaller, KmsService } from '../kms/kms.service.js';
import type { ProjectService } from '../projects/project.service.js';
import { assertDeviceMayRead, assertPersonMayReadValue, type SecretBindingLookup, type SecretRef } from './secret-access.js';
import { SecretError } from './secret-errors.js';
import type { SecretRepository, SecretRow } from './secret.repository.js';

/** A secret value: a string, or a flat object of strings such as `{ username, password }`. */
export type SecretValue = string | Record<string, string>;

/** The largest value, as its JSON encoding (issue 4's brief: 64 KiB). */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

export interface SecretView {
  project: string;
  name: string;
  description: string;
  version: number;
  kmsKey: { id: string; name: string; managedBy: 'service' | 'customer' } | { id: string; name: null; managedBy: null };
  createdAt: string;
  rotatedAt: string | null;
  createdBy: string;
}

/** What a data key of a secret version is bound to, in the KMS and in the seal. */
const keyContext = (id: string, version: number): string => `secret:${id}:v${version}`;
const sealAad = (id: string, version: number): Buffer => Buffer.from(`sightline-secret:${id}:v${version}`);

function encode(value: SecretValue): Buffer {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  if (bytes.length > MAX_SECRET_VALUE_BYTES) {
    bytes.fill(0);
    throw new SecretError('SECRET_VALUE_TOO_LARGE', `A secret value is at most ${MAX_SECRET_VALUE_BYTES} bytes (as JSON).`, {
      details: { limit: MAX_SECRET_VALUE_BYTES },
    });
  }
  return bytes;
}

function decode(bytes: Buffer): SecretValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new SecretError('SECRET_INTEGRITY_FAILED', 'The stored secret does not hold a value this server writes.', { cause: err });
  }
  if (typeof parsed === 'string') return parsed;
  if (
    parsed !== null &&
    typeof parsed === 'object' &&
    !Array.isArray(parsed) &&
    Object.values(parsed).every((v) => typeof v === 'string')
  ) {
    return parsed as Record<string, string>;
  }
  throw new SecretError('SECRET_INTEGRITY_FAILED', 'The stored secret does not hold a value this server writes.');
}

function principalLabel(caller: KeyCaller): string {
  return `${caller.principal.type}:${caller.principal.name}`;
}

/**
 * The secrets store (seed point 18: camera credentials encrypted at rest,
 * readable by the appliance). Each secret version has its own data key from
 * the KMS (the project's service secrets key, or a customer key), and its
 * value is sealed under it, bound to the secret id and version. Values leave
 * only through `readValue` (a person with MFA) and `readForDevice`.
 */
export class SecretService {
  constructor(
    private readonly repo: SecretRepository,
    private readonly kms: KmsService,
    private readonly projects: ProjectService,
    private readonly clock: Clock,
    private readonly bindings: SecretBindingLookup,
  ) {}

  private async views(project: string, rows: SecretRow[]): Promise<SecretView[]> {
    const keyRef = await this.kms.keyRefs(project);
    return rows.map((r) => ({
      project: r.project,
      name: r.name,
      description: r.description,
      version: r.version,
      kmsKey: keyRef(r.key_id),
      createdAt: new Date(r.created_at).toISOString(),
      rotatedAt: r.rotated_at === null ? null : new Date(r.rotated_at).toISOString(),
      createdBy: r.created_by,
    }));
  }

  private async view(row: SecretRow): Promise<SecretView> {
    const [v] = await this.views(row.project, [row]);
    if (v === undefined) throw new Error('unreachable');
    return v;
  }

  /** A customer key named for a secret, as its id; the project's service key when none is named. */
  private async keyIdFor(project: string, kmsKey: string | undefined): Promise<string | undefined> {
    if (kmsKey === undefined) return undefined;
    const key = await this.kms.describe(project, kmsKey);
    if (key.managedBy !== 'customer') {
      throw new SecretError(
        'SECRET_KEY_INVALID',
        `"${kmsKey}" is a service-managed key: name a customer-managed key, or leave kmsKey out to use the service key.`,
        {
          details: { field: 'kmsKey' },
        },
      );
    }
    return key.id;
  }

  private async sealVersion(
    caller: KeyCaller,
    project: string,
    keyId: string | undefined,
    id: string,
    version: number,
    value: SecretValue,
  ) {
    const plaintext = encode(value);
    try {
      const dk = await this.kms.generateDataKey(
        { project, purpose: 'secrets', ...(keyId === undefined ? {} : { keyId }) },
        keyContext(id, version),
        caller,
      );
      return {
        keyId: dk.keyId,
        wrapped: dk.wrapped.toString('base64'),
        sealed: seal(dk.key, plaintext, sealAad(id, version)).toString('base64'),
      };
    } finally {
      plaintext.fill(0);
    }
  }

  async create(
    caller: KeyCaller,
    project: string,
    input: { name: string; description: string; value: SecretValue; kmsKey?: string },
  ): Promise<SecretView> {
    await this.projects.get(project);
    encode(input.value).fill(0); // size first: refuse before touching any key
    if ((await this.repo.find(project, input.name)) !== undefined) {
      throw new SecretError(
        'ALREADY_EXISTS',
        `A secret named "${input.name}" already exists in project ${project}; rotate it to change the value.`,
      );
    }
    const id = randomUUID();
    const sealed = await this.sealVersion(caller, project, await this.keyIdFor(project, input.kmsKey), id, 1, input.value);
    const row: SecretRow = {
      id,
      project,
      name: input.name,
      description: input.description,
      key_id: sealed.keyId,
      wrapped_key: sealed.wrapped,
      sealed_value: sealed.sealed,
      version: 1,
      created_at: this.clock.now(),
      rotated_at: null,
      created_by: principalLabel(caller),
    };
    await this.repo.insert(row);
    return this.view(row);
  }

  async list(project: string): Promise<SecretView[]> {
    return this.views(project, await this.repo.list(project));
  }

  async describe(project: string, name: string): Promise<SecretView> {
    return this.view(await this.repo.get(project, name));
  }

  /** Stores a new value as version + 1 under a fresh data key from the secret's key. */
  async rotate(caller: KeyCaller, project: string, name: string, value: SecretValue): Promise<SecretView> {
    encode(value).fill(0);
    const row = await this.repo.get(project, name);
    const version = row.version + 1;
    const sealed = await this.sealVersion(caller, project, row.key_id, row.id, version, value);
    const next = { version, wrapped_key: sealed.wrapped, sealed_value: sealed.sealed, rotated_at: this.clock.now() };
    if (!(await this.repo.replaceValue(row.id, row.version, next))) {
      throw new SecretError('CONFLICT', `Secret "${name}" was rotated by another request at the same time; try again.`);
    }
    return this.view({ ...row, ...next });
  }

  async delete(project: string, name: string): Promise<void> {
    const row = await this.repo.get(project, name);
    await this.repo.delete(row.id);
  }

  /** A person reads a value: policy allowed `secret:ReadValue`; this adds the MFA rule. */
  async readValue(caller: KeyCaller, project: string, name: string): Promise<{ name: string; version: number; value: SecretValue }> {
    if (caller.principal.type === 'system') throw new SecretError('WRONG_API', 'The control plane does not read secret values for itself.');
    assertPersonMayReadValue(caller.principal);
    const row = await this.repo.get(project, name);
    return { name: row.name, version: row.version, value: await this.open(row, caller) };
  }

  /**
   * A device reads the secret of a camera it uses (issue 5's device API calls
   * this). The binding is checked before the secret is even looked up, so an
   * unbound device cannot learn which secrets exist.
   */
  async readForDevice(caller: KeyCaller, ref: SecretRef): Promise<{ name: string; version: number; value: SecretValue }> {
    const p = caller.principal;
    const bound = p.type === 'device' ? await this.bindings.deviceMayRead(p.id, ref.project, ref.name) : false;
    assertDeviceMayRead(p, ref, bound);
    const row = await this.repo.get(ref.project, ref.name);
    return { name: row.name, version: row.version, value: await this.open(row, caller) };
  }

  /** Unwraps the data key (the KMS fails closed on a disabled or destroyed key), then opens the value. */
  private async open(row: SecretRow, caller: KeyCaller): Promise<SecretValue> {
    const key = await this.kms.decryptDataKey(Buffer.from(row.wrapped_key, 'base64'), keyContext(row.id, row.version), caller);
    let plaintext: Buffer;
    try {
      plaintext = open(key, Buffer.from(row.sealed_value, 'base64'), sealAad(row.id, row.version));
    } catch (err) {
      // NIST SP 800-38D 7.2: a value whose tag fails is released to nobody.
      if (err instanceof EnvelopeError) {
        throw new SecretError(
          'SECRET_INTEGRITY_FAILED',
          `The stored value of secret "${row.name}" failed its integrity check (tampered or corrupted); nothing was decrypted. Rotate it to store a new value.`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
    try {
      return decode(plaintext);
    } finally {
      plaintext.fill(0);
    }
  }
}
