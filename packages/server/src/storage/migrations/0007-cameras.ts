import type { Kysely } from 'kysely';

// Cameras (data sources): the URL without credentials, the name of the secret
// that holds them (never the credentials), warnings (plain RTSP), a pause flag.
// camera_bindings says which device may read a camera's credentials; the
// deployments of apps fill it (seed point 18: only a device running an app
// bound to that camera may read them).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('cameras')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('secret_name', 'text')
    .addColumn('tls_ca_pem', 'text')
    .addColumn('warnings', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addUniqueConstraint('cameras_project_name', ['project', 'name'])
    .execute();
  await db.schema
    .createTable('camera_bindings')
    .addColumn('camera_id', 'text', (c) => c.notNull().references('cameras.id'))
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('camera_bindings_pk', ['camera_id', 'device_id'])
    .execute();
  await db.schema.createIndex('camera_bindings_device').on('camera_bindings').column('device_id').execute();
}
