import type { Kysely } from 'kysely';

// Packages and apps (issue 6). A package version keeps the publisher's signed
// manifest bytes (base64, never re-serialised) and signature; its files are
// artifacts named packages/blobs/<sha256>. Signing keys hold public halves
// only; the package policy lists the key ids a project trusts. An app
// instance is one deployment of a manifest on one device, with its stage,
// history and the last status the device reported.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('signing_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addUniqueConstraint('signing_keys_project_name', ['project', 'name'])
    .addUniqueConstraint('signing_keys_project_key', ['project', 'key_id'])
    .execute();
  await db.schema
    .createTable('package_policies')
    .addColumn('project', 'text', (c) => c.primaryKey())
    .addColumn('require_signed_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('package_versions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('manifest_b64', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('descriptor', 'text', (c) => c.notNull())
    .addColumn('files', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addUniqueConstraint('package_versions_project_name_version', ['project', 'name', 'version'])
    .execute();
  await db.schema
    .createTable('app_instances')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('app', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('stage_started_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('bytes_done', 'bigint')
    .addColumn('bytes_total', 'bigint')
    .addColumn('code', 'text')
    .addColumn('message', 'text')
    .addColumn('history', 'text', (c) => c.notNull())
    .addColumn('cameras', 'text', (c) => c.notNull())
    .addColumn('camera_status', 'text', (c) => c.notNull())
    .addColumn('node_status', 'text', (c) => c.notNull())
    .addColumn('resolved', 'text', (c) => c.notNull())
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('overrides', 'text', (c) => c.notNull())
    .addColumn('manifest_sha256', 'text', (c) => c.notNull())
    .addColumn('replaces', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('app_instances_device').on('app_instances').columns(['device_id', 'stage']).execute();
  await db.schema.createIndex('app_instances_project').on('app_instances').columns(['project', 'created_at']).execute();
}
