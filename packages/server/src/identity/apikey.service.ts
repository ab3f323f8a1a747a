import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import { parsePolicyDocument } from '../policy/index.js';
import { newApiKeyToken, tokenHash } from './credential-tokens.js';
import { IdentityError } from './identity-errors.js';

const DAY_MS = 86_400_000;

export interface ApiKeyView {
  id: string;
  name: string;
  owner: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  scoped: boolean;
  status: 'active' | 'expired' | 'revoked';
}

/**
 * API keys for automation (seed point 3): scoped by an optional policy that
 * narrows the owner's rights, always expiring, shown once, stored as a hash.
 */
export class ApiKeyService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly maxDays: number,
  ) {}

  async create(ownerId: string, input: { name: string; expiresInDays: number; policy?: unknown }): Promise<{ key: ApiKeyView; token: string }> {
    if (!Number.isInteger(input.expiresInDays) || input.expiresInDays < 1 || input.expiresInDays > this.maxDays) {
      throw new IdentityError('APIKEY_EXPIRY_INVALID', `expiresInDays must be a whole number from 1 to ${this.maxDays}.`, { details: { field: 'body.expiresInDays' } });
    }
    const policy = input.policy === undefined ? null : JSON.stringify(parsePolicyDocument(input.policy));
    const id = randomBytes(12).toString('hex');
    const token = newApiKeyToken(id);
    const now = this.clock.now();
    const row = {
      id,
      name: input.name,
      user_id: ownerId,
      secret_hash: tokenHash(token),
      policy_document: policy,
      created_at: now,
      expires_at: now + input.expiresInDays * DAY_MS,
      revoked_at: null,
      last_used_at: null,
    };
    try {
      await this.store.db.insertInto('api_keys').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdentityError('ALREADY_EXISTS', `You already have an API key named "${input.name}".`, { cause: err });
      throw err;
    }
    const owner = await this.store.db.selectFrom('users').select('name').where('id', '=', ownerId).executeTakeFirstOrThrow();
    return { key: this.view({ ...row, owner: owner.name }), token };
  }

  /** Keys of one owner, or of everyone when `ownerId` is undefined. */
  async list(ownerId?: string): Promise<ApiKeyView[]> {
    let q = this.store.db
      .selectFrom('api_keys')
      .innerJoin('users', 'users.id', 'api_keys.user_id')
      .selectAll('api_keys')
      .select('users.name as owner');
    if (ownerId !== undefined) q = q.where('api_keys.user_id', '=', ownerId);
    return (await q.orderBy('api_keys.created_at').execute()).map((r) => this.view(r));
  }

  async revoke(id: string, ownerId?: string): Promise<ApiKeyView> {
    let q = this.store.db.updateTable('api_keys').set({ revoked_at: this.clock.now() }).where('id', '=', id).where('revoked_at', 'is', null);
    if (ownerId !== undefined) q = q.where('user_id', '=', ownerId);
    const r = await q.executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new IdentityError('APIKEY_NOT_FOUND', `No active API key ${id}${ownerId === undefined ? '' : ' of yours'}.`);
    const row = await this.store.db
      .selectFrom('api_keys')
      .innerJoin('users', 'users.id', 'api_keys.user_id')
      .selectAll('api_keys')
      .select('users.name as owner')
      .where('api_keys.id', '=', id)
      .executeTakeFirstOrThrow();
    return this.view(row);
  }

  private view(r: { id: string; name: string; owner: string; created_at: number; expires_at: number; revoked_at: number | null; last_used_at: number | null; policy_document: string | null }): ApiKeyView {
    const now = this.clock.now();
    return {
      id: r.id,
      name: r.name,
      owner: r.owner,
      createdAt: new Date(r.created_at).toISOString(),
      expiresAt: new Date(r.expires_at).toISOString(),
      revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at).toISOString(),
      lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at).toISOString(),
      scoped: r.policy_document !== null,
      status: r.revoked_at !== null ? 'revoked' : r.expires_at <= now ? 'expired' : 'active',
    };
  }
}
