import type { Store } from '../storage/store.js';
import type { DeviceJobsTable, ReleasesTable, TufMetadataTable } from '../storage/schema.js';

export type TufRole = TufMetadataTable['role'];

/** Storage of the TUF repository, releases and update-job reads. */
export class ReleaseRepository {
  constructor(private readonly store: Store) {}

  async getSetting(key: string): Promise<string | undefined> {
    return (await this.store.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  async putSettingIfAbsent(key: string, value: string): Promise<void> {
    await this.store.db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute();
  }

  async latest(role: TufRole): Promise<TufMetadataTable | undefined> {
    return this.store.db.selectFrom('tuf_metadata').selectAll().where('role', '=', role).orderBy('version', 'desc').limit(1).executeTakeFirst();
  }

  async metadata(role: TufRole, version: number): Promise<TufMetadataTable | undefined> {
    return this.store.db.selectFrom('tuf_metadata').selectAll().where('role', '=', role).where('version', '=', version).executeTakeFirst();
  }

  async insertMetadata(row: TufMetadataTable): Promise<void> {
    await this.store.db.insertInto('tuf_metadata').values(row).execute();
  }

  async releases(): Promise<ReleasesTable[]> {
    return this.store.db.selectFrom('releases').selectAll().orderBy('created_at', 'desc').execute();
  }

  async release(version: string): Promise<ReleasesTable | undefined> {
    return this.store.db.selectFrom('releases').selectAll().where('version', '=', version).executeTakeFirst();
  }

  async releaseByTarget(target: string): Promise<ReleasesTable | undefined> {
    return this.store.db.selectFrom('releases').selectAll().where('target', '=', target).executeTakeFirst();
  }

  async insertRelease(row: ReleasesTable): Promise<void> {
    await this.store.db.insertInto('releases').values(row).execute();
  }

  async device(project: string, name: string): Promise<{ id: string; name: string; state: string; status: string | null } | undefined> {
    return this.store.db.selectFrom('devices').select(['id', 'name', 'state', 'status']).where('project', '=', project).where('name', '=', name).executeTakeFirst();
  }

  async registeredDevices(project: string): Promise<{ id: string; name: string; state: string; status: string | null }[]> {
    return this.store.db.selectFrom('devices').select(['id', 'name', 'state', 'status']).where('project', '=', project).where('state', '=', 'registered').orderBy('name').execute();
  }

  async job(deviceId: string, jobId: string): Promise<DeviceJobsTable | undefined> {
    return this.store.db.selectFrom('device_jobs').selectAll().where('id', '=', jobId).where('device_id', '=', deviceId).executeTakeFirst();
  }

  async openUpdateJobs(): Promise<DeviceJobsTable[]> {
    return this.store.db.selectFrom('device_jobs').selectAll().where('kind', '=', 'update').where('status', 'in', ['queued', 'running']).execute();
  }

  /** Fails a job that is still open (compare-and-set on updated_at, so a report that lands first wins). */
  async failStuck(job: DeviceJobsTable, message: string, history: string, now: number): Promise<boolean> {
    const r = await this.store.db
      .updateTable('device_jobs')
      .set({ status: 'failed', message, stage: 'failed', stage_started_at: now, history, updated_at: now })
      .where('id', '=', job.id)
      .where('updated_at', '=', job.updated_at)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
