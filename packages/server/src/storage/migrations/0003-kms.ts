import type { Kysely } from 'kysely';

// The key service: master keys (service-managed per project and purpose, or
// customer-managed), each with versions whose material is sealed under the
// root key. Destroying a key deletes the material of every version.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('kms_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('managed_by', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('policy', 'text')
    .addColumn('current_version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('deletion_at', 'bigint')
    .addColumn('destroyed_at', 'bigint')
    .addUniqueConstraint('kms_keys_project_name', ['project', 'name'])
    .execute();
  await db.schema
    .createTable('kms_key_versions')
    .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('material_sealed', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('kms_key_versions_pk', ['key_id', 'version'])
    .execute();
}
