import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { EnvelopeError, generateDataKey, parseWrappedKey, unwrapKey, wrapKey } from '@sightline/core';
import type { AccessService } from '../access/access.service.js';
import type { AuditSink } from '../http/pipeline.js';
import type { Principal } from '../http/router.js';
import type { Clock } from '../clock.js';
import type { RootKey } from '../keys/root-key.js';
import { authorize, parsePolicyDocument, parsePolicyJson } from '../policy/index.js';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import type { KmsKeysTable } from '../storage/schema.js';
import { KmsError } from './kms-errors.js';

const DAY_MS = 86_400_000;
export const SERVICE_PURPOSES = ['artifacts', 'secrets', 'logs'] as const;
export type ServicePurpose = (typeof SERVICE_PURPOSES)[number];
/** Service-managed keys live under this reserved name prefix. */
const SERVICE_PREFIX = 'sightline-';

/** Who uses a key: a person or device through the API, or the control plane itself. */
export interface KeyCaller {
  principal: Principal | { type: 'system'; id: string; name: string };
  requestId: string;
  sourceIp: string;
}

export interface KeyView {
  id: string;
  project: string;
  name: string;
  managedBy: 'service' | 'customer';
  purpose: string;
  state: KmsKeysTable['state'];
  description: string;
  currentVersion: number;
  createdAt: string;
  deletionDate: string | null;
  destroyedAt: string | null;
  hasPolicy: boolean;
}

/** The key a secret or log group is sealed under, as their views name it. */
export type KeyRef = { id: string; name: string; managedBy: 'service' | 'customer' } | { id: string; name: null; managedBy: null };

export interface DataKey {
  /** Plaintext data key; callers use it and drop it, never store it. */
  key: KeyObject;
  /** The data key wrapped by the master key version; stored beside the data. */
  wrapped: Buffer;
}

function view(r: KmsKeysTable): KeyView {
  return {
    id: r.id,
    project: r.project,
    name: r.name,
    managedBy: r.managed_by,
    purpose: r.purpose,
    state: r.state,
    description: r.description,
    currentVersion: r.current_version,
    createdAt: new Date(r.created_at).toISOString(),
    deletionDate: r.deletion_at === null ? null : new Date(r.deletion_at).toISOString(),
    destroyedAt: r.destroyed_at === null ? null : new Date(r.destroyed_at).toISOString(),
    hasPolicy: r.policy !== null,
  };
}

const sealContext = (keyId: string, version: number): string => `kms-key:${keyId}:v${version}`;

/**
 * The key service (seed points 5, 17–19): envelope encryption with master
 * keys sealed under the root key, service-managed keys per project and
 * purpose, customer-managed keys with rotation, disable and delayed
 * deletion (crypto-shredding). Every use of a key is an audit event.
 */
export class KmsService {
  constructor(
    private readonly store: Store,
    private readonly rootKey: RootKey,
    private readonly access: AccessService,
    private readonly audit: AuditSink,
    private readonly clock: Clock,
  ) {}

  async create(project: string, name: string, description: string, policy?: unknown): Promise<KeyView> {
    if (name.startsWith(SERVICE_PREFIX)) throw new KmsError('KEY_RESERVED_NAME', `Key names starting with "${SERVICE_PREFIX}" are reserved for service-managed keys.`);
    const doc = policy === undefined ? null : JSON.stringify(parsePolicyDocument(policy));
    return view(await this.insertKey(project, name, 'customer', 'customer', description, doc));
  }

  private async insertKey(project: string, name: string, managedBy: 'service' | 'customer', purpose: string, description: string, policy: string | null): Promise<KmsKeysTable> {
    const now = this.clock.now();
    const row: KmsKeysTable = {
      id: randomUUID(),
      project,
      name,
      managed_by: managedBy,
      purpose,
      state: 'enabled',
      description,
      policy,
      current_version: 1,
      created_at: now,
      deletion_at: null,
      destroyed_at: null,
    };
    try {
      await this.store.transaction(async () => {
        await this.store.db.insertInto('kms_keys').values(row).execute();
        await this.store.db
          .insertInto('kms_key_versions')
          .values({ key_id: row.id, version: 1, material_sealed: this.rootKey.seal(randomBytes(32), sealContext(row.id, 1)), created_at: now })
          .execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new KmsError('ALREADY_EXISTS', `A key named "${name}" already exists in project ${project}.`, { cause: err });
      throw err;
    }
    return row;
  }

  /** The service-managed key for a purpose in a project, created on first use (nothing to switch on). */
  async serviceKey(project: string, purpose: ServicePurpose): Promise<KmsKeysTable> {
    const name = `${SERVICE_PREFIX}${purpose}`;
    const existing = await this.find(project, name);
    if (existing !== undefined) return existing;
    try {
      return await this.insertKey(project, name, 'service', purpose, `Service-managed key for ${purpose}`, null);
    } catch (err) {
      // Another request created it at the same moment.
      if (err instanceof KmsError && err.code === 'ALREADY_EXISTS') return this.get(project, name);
      throw err;
    }
  }

  private find(project: string, name: string): Promise<KmsKeysTable | undefined> {
    return this.store.db.selectFrom('kms_keys').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst();
  }

  private async get(project: string, name: string): Promise<KmsKeysTable> {
    const row = await this.find(project, name);
    if (row === undefined) throw new KmsError('KEY_NOT_FOUND', `No key named "${name}" in project ${project}.`);
    return row;
  }

  private async getById(id: string): Promise<KmsKeysTable> {
    const row = await this.store.db.selectFrom('kms_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw new KmsError('KEY_NOT_FOUND', 'The key that protects this data no longer exists.');
    return row;
  }

  async describe(project: string, name: string): Promise<KeyView & { versions: { version: number; createdAt: string; destroyed: boolean }[] }> {
    const row = await this.get(project, name);
    const versions = await this.store.db.selectFrom('kms_key_versions').select(['version', 'created_at', 'material_sealed']).where('key_id', '=', row.id).orderBy('version').execute();
    return { ...view(row), versions: versions.map((v) => ({ version: v.version, createdAt: new Date(v.created_at).toISOString(), destroyed: v.material_sealed === null })) };
  }

  async list(project: string): Promise<KeyView[]> {
    return (await this.store.db.selectFrom('kms_keys').selectAll().where('project', '=', project).orderBy('name').execute()).map(view);
  }

  /** How views name the key behind each of their rows: a lookup by key id over the project's keys (one not found shows only its id). */
  async keyRefs(project: string): Promise<(keyId: string) => KeyRef> {
    const keys = new Map((await this.list(project)).map((k) => [k.id, k]));
    return (keyId) => {
      const k = keys.get(keyId);
      return k === undefined ? { id: keyId, name: null, managedBy: null } : { id: k.id, name: k.name, managedBy: k.managedBy };
    };
  }

  /** Adds a version; new data uses it, older versions still decrypt what they wrapped. */
  async rotate(project: string, name: string): Promise<KeyView> {
    return this.store.transaction(async () => {
      const row = await this.get(project, name);
      this.assertUsable(row);
      const version = row.current_version + 1;
      await this.store.db
        .insertInto('kms_key_versions')
        .values({ key_id: row.id, version, material_sealed: this.rootKey.seal(randomBytes(32), sealContext(row.id, version)), created_at: this.clock.now() })
        .execute();
      await this.store.db.updateTable('kms_keys').set({ current_version: version }).where('id', '=', row.id).execute();
      return view({ ...row, current_version: version });
    });
  }

  async setEnabled(project: string, name: string, enabled: boolean): Promise<KeyView> {
    const row = await this.get(project, name);
    if (row.state === 'destroyed' || row.state === 'pending-deletion') {
      throw new KmsError('KEY_STATE_INVALID', `Key "${name}" is ${row.state}; ${row.state === 'pending-deletion' ? 'cancel the deletion first' : 'it cannot come back'}.`);
    }
    const state = enabled ? 'enabled' : 'disabled';
    await this.store.db.updateTable('kms_keys').set({ state }).where('id', '=', row.id).execute();
    return view({ ...row, state });
  }

  /** Schedules destruction after 7–30 days (default 30); the key is unusable from now on. */
  async scheduleDeletion(project: string, name: string, days = 30): Promise<KeyView> {
    if (!Number.isInteger(days) || days < 7 || days > 30) {
      throw new KmsError('KEY_DELETION_WINDOW_INVALID', 'The waiting period is 7 to 30 days (default 30).', { details: { field: 'days' } });
    }
    const row = await this.get(project, name);
    if (row.managed_by === 'service') throw new KmsError('KEY_STATE_INVALID', 'Service-managed keys cannot be deleted; delete the project instead.');
    if (row.state === 'destroyed' || row.state === 'pending-deletion') throw new KmsError('KEY_STATE_INVALID', `Key "${name}" is already ${row.state}.`);
    const deletionAt = this.clock.now() + days * DAY_MS;
    await this.store.db.updateTable('kms_keys').set({ state: 'pending-deletion', deletion_at: deletionAt }).where('id', '=', row.id).execute();
    return view({ ...row, state: 'pending-deletion', deletion_at: deletionAt });
  }

  /** Cancels a scheduled deletion; the key comes back disabled, to be enabled on purpose. */
  async cancelDeletion(project: string, name: string): Promise<KeyView> {
    const row = await this.get(project, name);
    if (row.state !== 'pending-deletion') throw new KmsError('KEY_STATE_INVALID', `Key "${name}" is not pending deletion.`);
    await this.store.db.updateTable('kms_keys').set({ state: 'disabled', deletion_at: null }).where('id', '=', row.id).execute();
    return view({ ...row, state: 'disabled', deletion_at: null });
  }

  /** Destroys the material of keys whose waiting period is over: the data under them is gone for good. */
  async destroyDue(): Promise<number> {
    const now = this.clock.now();
    const due = await this.store.db.selectFrom('kms_keys').selectAll().where('state', '=', 'pending-deletion').where('deletion_at', '<=', now).execute();
    for (const row of due) {
      await this.store.transaction(async () => {
        await this.store.db.updateTable('kms_key_versions').set({ material_sealed: null }).where('key_id', '=', row.id).execute();
        await this.store.db.updateTable('kms_keys').set({ state: 'destroyed', destroyed_at: now }).where('id', '=', row.id).execute();
        await this.audit.record({
          requestId: `kms-destroy-${row.id}`,
          time: now,
          principal: { type: 'anonymous', id: 'system', name: 'sightline-kms' },
          action: 'key:Destroy',
          resource: `srn:sightline:${row.project}:key/${row.name}`,
          sourceIp: '127.0.0.1',
          userAgent: 'sightline-kms',
          outcome: 'allowed',
          parameters: { keyId: row.id, versions: row.current_version },
        });
      });
    }
    return due.length;
  }

  private assertUsable(row: KmsKeysTable): void {
    switch (row.state) {
      case 'enabled':
        return;
      case 'disabled':
        throw new KmsError('KEY_DISABLED', `Key "${row.name}" is disabled: data under it cannot be read or written until it is enabled ("sightline key enable ${row.name}").`);
      case 'pending-deletion':
        throw new KmsError(
          'KEY_PENDING_DELETION',
          `Key "${row.name}" is scheduled for destruction on ${new Date(row.deletion_at ?? 0).toISOString()}; cancel the deletion to read data under it.`,
        );
      case 'destroyed':
        throw new KmsError('KEY_DESTROYED', `Key "${row.name}" was destroyed on ${new Date(row.destroyed_at ?? 0).toISOString()}: the data under it is gone for good (crypto-shredded).`);
    }
  }

  /** A user using a customer-managed key needs key:Use on it, and its key policy (if any) must allow too. */
  private async authorizeUse(row: KmsKeysTable, caller: KeyCaller): Promise<void> {
    const p = caller.principal;
    if (p.type === 'system' || row.managed_by === 'service') return;
    const resource = `srn:sightline:${row.project}:key/${row.name}`;
    await this.access.authorize(p, 'key:Use', resource, { sourceIp: caller.sourceIp });
    if (row.policy !== null) {
      authorize(
        { principal: p, action: 'key:Use', resource, context: { mfaPresent: p.mfaPresent, sourceIp: caller.sourceIp } },
        [{ name: `key-policy:${row.name}`, source: { kind: 'attached' }, document: parsePolicyJson(row.policy) }],
      );
    }
  }

  private async material(row: KmsKeysTable, version: number): Promise<Buffer> {
    const v = await this.store.db.selectFrom('kms_key_versions').select('material_sealed').where('key_id', '=', row.id).where('version', '=', version).executeTakeFirst();
    if (v === undefined) throw new KmsError('DATA_KEY_INVALID', `Key "${row.name}" has no version ${version}.`);
    if (v.material_sealed === null) throw new KmsError('KEY_DESTROYED', `Version ${version} of key "${row.name}" was destroyed: the data under it is gone for good.`);
    return this.rootKey.open(v.material_sealed, sealContext(row.id, version));
  }

  private async recordUse(row: KmsKeysTable, caller: KeyCaller, operation: string, version: number, context: string): Promise<void> {
    await this.audit.record({
      requestId: caller.requestId,
      time: this.clock.now(),
      principal: { type: caller.principal.type === 'system' ? 'anonymous' : caller.principal.type, id: caller.principal.id, name: caller.principal.name },
      action: 'key:Use',
      resource: `srn:sightline:${row.project}:key/${row.name}`,
      sourceIp: caller.sourceIp,
      userAgent: 'sightline-kms',
      outcome: 'allowed',
      parameters: { operation, keyId: row.id, keyVersion: version, encryptionContext: context },
    });
  }

  /**
   * A new data key wrapped by the current version of `keyId` (a key's id) or
   * of the project's service key for `purpose`. `context` binds the wrapped
   * key to what it protects (e.g. the artifact id): it unwraps nowhere else.
   */
  async generateDataKey(target: { project: string; purpose: ServicePurpose; keyId?: string }, context: string, caller: KeyCaller): Promise<DataKey & { keyId: string }> {
    const row = target.keyId === undefined ? await this.serviceKey(target.project, target.purpose) : await this.getById(target.keyId);
    if (row.project !== target.project) throw new KmsError('KEY_WRONG_PROJECT', `Key "${row.name}" belongs to another project.`);
    this.assertUsable(row);
    await this.authorizeUse(row, caller);
    const master = await this.material(row, row.current_version);
    const key = generateDataKey();
    try {
      const wrapped = wrapKey(master, key, { keyId: row.id, keyVersion: row.current_version, purpose: context });
      await this.recordUse(row, caller, 'GenerateDataKey', row.current_version, context);
      return { key, wrapped, keyId: row.id };
    } finally {
      master.fill(0);
    }
  }

  /** Unwraps a stored data key, failing closed if its key is disabled, pending deletion or destroyed. */
  async decryptDataKey(wrapped: Uint8Array, context: string, caller: KeyCaller): Promise<KeyObject> {
    let named: { keyId: string; keyVersion: number };
    try {
      named = parseWrappedKey(wrapped);
    } catch (err) {
      throw new KmsError('DATA_KEY_INVALID', 'The stored data key is malformed.', { cause: err });
    }
    const row = await this.getById(named.keyId);
    this.assertUsable(row);
    await this.authorizeUse(row, caller);
    const master = await this.material(row, named.keyVersion);
    try {
      const key = unwrapKey(master, wrapped, { keyId: row.id, keyVersion: named.keyVersion, purpose: context });
      await this.recordUse(row, caller, 'Decrypt', named.keyVersion, context);
      return key;
    } catch (err) {
      if (err instanceof EnvelopeError) throw new KmsError('DATA_KEY_INVALID', 'The data key does not unwrap in this context (wrong object or tampered key).', { cause: err });
      throw err;
    } finally {
      master.fill(0);
    }
  }
}
