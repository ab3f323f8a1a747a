import type { Kysely } from 'kysely';

// Signed agent releases (issue 7): the TUF repository's metadata, each
// version kept (devices fetch N.root.json, N.targets.json, N.snapshot.json
// by version), the releases (one TUF target each; the bundle bytes are in
// the artifact store) and the progress of update jobs on device_jobs.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tuf_metadata')
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('tuf_metadata_pk', ['role', 'version'])
    .execute();
  await db.schema
    .createTable('releases')
    .addColumn('version', 'text', (c) => c.primaryKey())
    .addColumn('target', 'text', (c) => c.notNull().unique())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('length', 'bigint', (c) => c.notNull())
    .addColumn('security_version', 'integer', (c) => c.notNull())
    .addColumn('required', 'integer', (c) => c.notNull())
    .addColumn('min_agent_version', 'text')
    .addColumn('targets_version', 'integer', (c) => c.notNull())
    .addColumn('artifact', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .execute();
  // One column per statement: SQLite adds one column at a time.
  for (const [name, type] of [
    ['params', 'text'],
    ['stage', 'text'],
    ['stage_started_at', 'bigint'],
    ['bytes_done', 'bigint'],
    ['bytes_total', 'bigint'],
    ['history', 'text'],
  ] as const) {
    await db.schema.alterTable('device_jobs').addColumn(name, type).execute();
  }
}
