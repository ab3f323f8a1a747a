import { AsyncLocalStorage } from 'node:async_hooks';
import type { Transaction } from 'kysely';
import type { Db, DatabaseEngine } from './database.js';
import type { Database } from './schema.js';

/**
 * Hands repositories the database handle in effect: the transaction of the
 * current request when one is open, else the pool. This lets the HTTP
 * pipeline run a handler and write its audit event in one transaction
 * without threading a handle through every service signature.
 */
export class Store {
  private readonly current = new AsyncLocalStorage<Transaction<Database>>();
  private readonly commitHooks = new AsyncLocalStorage<{ hooks: (() => void)[]; settled: boolean }>();

  constructor(
    private readonly base: Db,
    readonly engine: DatabaseEngine,
  ) {}

  get db(): Db {
    return this.current.getStore() ?? this.base;
  }

  /** Runs `fn` in a transaction; nested calls join the outer one. */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.current.getStore() !== undefined) return fn();
    const pending = { hooks: [] as (() => void)[], settled: false };
    try {
      const result = await this.commitHooks.run(pending, () => this.base.transaction().execute((trx) => this.current.run(trx, fn)));
      pending.settled = true;
      for (const hook of pending.hooks) hook();
      return result;
    } finally {
      pending.settled = true;
    }
  }

  /**
   * Runs `hook` once the transaction in effect has committed (at once when
   * none is open; never when it rolls back): wake-ups of long-polls must not
   * race the commit, or the woken reader sees the old state and sleeps again.
   */
  afterCommit(hook: () => void): void {
    // A timer started inside a transaction keeps its async context after the commit: settled says so.
    const pending = this.current.getStore() === undefined ? undefined : this.commitHooks.getStore();
    if (pending === undefined || pending.settled) hook();
    else pending.hooks.push(hook);
  }
}

/** True when a database error is a unique-constraint violation, on either engine. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
