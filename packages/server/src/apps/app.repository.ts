import type { AppInstancesTable } from '../storage/schema.js';
import type { Store } from '../storage/store.js';

export type InstanceRow = AppInstancesTable;
export type Stage = AppInstancesTable['stage'];

/** Stages after which an instance is no longer in its device's desired state. */
export const ENDED_STAGES: readonly Stage[] = ['failed', 'rolled-back', 'stopped'];
/** Stages that have a timeout. */
export const TIMED_STAGES = ['downloading', 'verifying', 'starting'] as const;

/** Rows of app instances; every query joins the caller's transaction. */
export class AppRepository {
  constructor(private readonly store: Store) {}

  find(project: string, id: string): Promise<InstanceRow | undefined> {
    return this.store.db.selectFrom('app_instances').selectAll().where('project', '=', project).where('id', '=', id).executeTakeFirst();
  }

  findForDevice(deviceId: string, id: string): Promise<InstanceRow | undefined> {
    return this.store.db.selectFrom('app_instances').selectAll().where('device_id', '=', deviceId).where('id', '=', id).executeTakeFirst();
  }

  list(project: string, deviceId: string | undefined): Promise<InstanceRow[]> {
    let q = this.store.db.selectFrom('app_instances').selectAll().where('project', '=', project);
    if (deviceId !== undefined) q = q.where('device_id', '=', deviceId);
    return q.orderBy('created_at').orderBy('id').limit(1000).execute();
  }

  /** The instances a device should run (not ended). */
  active(deviceId: string): Promise<InstanceRow[]> {
    return this.store.db
      .selectFrom('app_instances')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('stage', 'not in', [...ENDED_STAGES])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  /** Instances in a timed stage (the timeout sweep filters by each stage's limit). */
  inTimedStages(): Promise<InstanceRow[]> {
    return this.store.db.selectFrom('app_instances').selectAll().where('stage', 'in', [...TIMED_STAGES]).limit(10_000).execute();
  }

  async insert(row: InstanceRow): Promise<void> {
    await this.store.db.insertInto('app_instances').values(row).execute();
  }

  async update(id: string, changes: Partial<Omit<InstanceRow, 'id' | 'project' | 'device_id' | 'created_at' | 'created_by'>>): Promise<void> {
    await this.store.db.updateTable('app_instances').set(changes).where('id', '=', id).execute();
  }
}
