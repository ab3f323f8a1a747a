import type { Kysely } from 'kysely';

// Appliances: the device record, every certificate issued to it (provisioning
// and operational, by serial, revocable), and device jobs (reboot, reset…).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('devices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('network', 'text', (c) => c.notNull())
    .addColumn('archive_sha256', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('registered_at', 'bigint')
    .addColumn('deregistered_at', 'bigint')
    .addColumn('last_seen_at', 'bigint')
    .addColumn('status', 'text')
    .addColumn('integrity_state', 'text', (c) => c.notNull())
    .addColumn('agent_version', 'text')
    .addUniqueConstraint('devices_project_name', ['project', 'name'])
    .execute();
  await db.schema
    .createTable('device_certs')
    .addColumn('serial', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('device_certs_device').on('device_certs').column('device_id').execute();
  await db.schema
    .createTable('device_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('device_jobs_device').on('device_jobs').columns(['device_id', 'status']).execute();
}
