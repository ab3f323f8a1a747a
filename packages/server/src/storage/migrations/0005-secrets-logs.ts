import type { Kysely } from 'kysely';

// The secrets store and the log store. Both hold only sealed values: a secret
// row carries its data key wrapped by a KMS key and its value sealed under that
// data key; a log chunk carries one batch, gzipped then sealed, under a data
// key of its own wrapped by the group's key.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('secrets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('sealed_value', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('rotated_at', 'bigint')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addUniqueConstraint('secrets_project_name', ['project', 'name'])
    .execute();

  await db.schema
    .createTable('log_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('retention_days', 'integer', (c) => c.notNull())
    /** The sequence number of the group's newest chunk; bumped (row-locked) by each batch. */
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('log_groups_project_name', ['project', 'name'])
    .execute();

  await db.schema
    .createTable('log_streams')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('group_id', 'text', (c) => c.notNull().references('log_groups.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('log_streams_group_name', ['group_id', 'name'])
    .execute();

  await db.schema
    .createTable('log_chunks')
    .addColumn('group_id', 'text', (c) => c.notNull().references('log_groups.id'))
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('stream_id', 'text', (c) => c.notNull().references('log_streams.id'))
    .addColumn('first_time', 'bigint', (c) => c.notNull())
    .addColumn('last_time', 'bigint', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('log_chunks_pk', ['group_id', 'seq'])
    .execute();
  await db.schema.createIndex('log_chunks_last_time').on('log_chunks').columns(['group_id', 'last_time']).execute();
  await db.schema.createIndex('log_chunks_stream').on('log_chunks').columns(['stream_id', 'seq']).execute();
}
