import { sql } from 'kysely';
import type { ArtifactsTable } from '../storage/schema.js';
import type { Store } from '../storage/store.js';

/** Rows of committed artifacts. Every query joins the caller's transaction when one is open (Store). */
export class ArtifactRepository {
  constructor(private readonly store: Store) {}

  find(project: string, name: string): Promise<ArtifactsTable | undefined> {
    return this.store.db.selectFrom('artifacts').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst();
  }

  async insert(row: ArtifactsTable): Promise<void> {
    await this.store.db.insertInto('artifacts').values(row).execute();
  }

  /** Deletes by id (not name), so a concurrent overwrite's new row is never the one removed. */
  async deleteById(id: string): Promise<boolean> {
    const r = await this.store.db.deleteFrom('artifacts').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Names in byte order on both engines (PostgreSQL's default collation may not be), after `after`, with `prefix`. */
  list(project: string, prefix: string, after: string | undefined, limit: number): Promise<ArtifactsTable[]> {
    const name = this.store.engine === 'postgres' ? sql<string>`name collate "C"` : sql<string>`name`;
    let q = this.store.db.selectFrom('artifacts').selectAll().where('project', '=', project);
    // substr, not LIKE: "_" is a legal name character and SQLite's LIKE ignores case.
    if (prefix !== '') q = q.where(sql<string>`substr(name, 1, ${prefix.length})`, '=', prefix);
    if (after !== undefined) q = q.where(name, '>', after);
    return q.orderBy(name).limit(limit).execute();
  }

  /** Which of `ids` have a row (the orphan sweep asks in batches). */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.store.db.selectFrom('artifacts').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((r) => r.id));
  }

  async projectExists(project: string): Promise<boolean> {
    return (await this.store.db.selectFrom('projects').select('id').where('name', '=', project).executeTakeFirst()) !== undefined;
  }
}
