import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import type { SecretsTable } from '../storage/schema.js';
import { SecretError } from './secret-errors.js';

export type SecretRow = SecretsTable;

/** Rows of the secrets store: metadata in the clear, the value only sealed. */
export class SecretRepository {
  constructor(private readonly store: Store) {}

  find(project: string, name: string): Promise<SecretRow | undefined> {
    return this.store.db.selectFrom('secrets').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst();
  }

  async get(project: string, name: string): Promise<SecretRow> {
    const row = await this.find(project, name);
    if (row === undefined) throw new SecretError('SECRET_NOT_FOUND', `No secret named "${name}" in project ${project}.`);
    return row;
  }

  list(project: string): Promise<SecretRow[]> {
    return this.store.db.selectFrom('secrets').selectAll().where('project', '=', project).orderBy('name').execute();
  }

  async insert(row: SecretRow): Promise<void> {
    try {
      await this.store.db.insertInto('secrets').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new SecretError('ALREADY_EXISTS', `A secret named "${row.name}" already exists in project ${row.project}.`, { cause: err });
      throw err;
    }
  }

  /** Replaces the sealed value only if nobody rotated it since `fromVersion` was read. */
  async replaceValue(
    id: string,
    fromVersion: number,
    next: Pick<SecretRow, 'version' | 'wrapped_key' | 'sealed_value' | 'rotated_at'>,
  ): Promise<boolean> {
    const r = await this.store.db
      .updateTable('secrets')
      .set(next)
      .where('id', '=', id)
      .where('version', '=', fromVersion)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async delete(id: string): Promise<void> {
    await this.store.db.deleteFrom('secrets').where('id', '=', id).execute();
  }
}
