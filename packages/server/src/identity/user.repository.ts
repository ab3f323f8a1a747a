import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import type { UsersTable } from '../storage/schema.js';
import { IdentityError } from './identity-errors.js';

export type UserRow = UsersTable;

export class UserRepository {
  constructor(private readonly store: Store) {}

  async insert(row: Omit<UserRow, 'id'>): Promise<UserRow> {
    const full = { id: randomUUID(), ...row };
    try {
      await this.store.db.insertInto('users').values(full).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdentityError('ALREADY_EXISTS', `A user named "${row.name}" already exists.`, { cause: err });
      throw err;
    }
    return full;
  }

  findByName(name: string): Promise<UserRow | undefined> {
    return this.store.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
  }

  findById(id: string): Promise<UserRow | undefined> {
    return this.store.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getByName(name: string): Promise<UserRow> {
    const row = await this.findByName(name);
    if (row === undefined) throw new IdentityError('USER_NOT_FOUND', `No user named "${name}".`);
    return row;
  }

  list(): Promise<UserRow[]> {
    return this.store.db.selectFrom('users').selectAll().orderBy('name').execute();
  }

  async update(id: string, patch: Partial<Omit<UserRow, 'id' | 'name'>>): Promise<void> {
    await this.store.db.updateTable('users').set(patch).where('id', '=', id).execute();
  }

  /**
   * Records a TOTP step as used, only if it is newer than the last one: the
   * conditional update is what makes replay refusal hold under concurrency.
   */
  async claimTotpStep(id: string, step: number): Promise<boolean> {
    const result = await this.store.db.updateTable('users').set({ totp_last_step: step }).where('id', '=', id).where('totp_last_step', '<', step).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async delete(id: string): Promise<void> {
    await this.store.db.deleteFrom('users').where('id', '=', id).execute();
  }

  async recordFailure(userId: string, at: number): Promise<void> {
    await this.store.db.insertInto('login_failures').values({ id: randomUUID(), user_id: userId, at }).execute();
  }

  /** Failures since `since`, oldest first (the lockout window). */
  async failuresSince(userId: string, since: number): Promise<number[]> {
    const rows = await this.store.db.selectFrom('login_failures').select('at').where('user_id', '=', userId).where('at', '>=', since).orderBy('at').execute();
    return rows.map((r) => r.at);
  }

  async clearFailures(userId: string): Promise<void> {
    await this.store.db.deleteFrom('login_failures').where('user_id', '=', userId).execute();
  }
}
