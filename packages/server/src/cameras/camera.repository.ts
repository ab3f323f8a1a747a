import type { CamerasTable } from '../storage/schema.js';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import { CameraError } from './camera-errors.js';

export type CameraRow = CamerasTable;

/** Rows of cameras and of their device bindings. No credentials here: only a secret's name. */
export class CameraRepository {
  constructor(private readonly store: Store) {}

  find(project: string, name: string): Promise<CameraRow | undefined> {
    return this.store.db.selectFrom('cameras').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst();
  }

  async get(project: string, name: string): Promise<CameraRow> {
    const row = await this.find(project, name);
    if (row === undefined) {
      throw new CameraError('CAMERA_NOT_FOUND', `No camera named "${name}" in project ${project}; see "sightline camera list".`);
    }
    return row;
  }

  list(project: string): Promise<CameraRow[]> {
    return this.store.db.selectFrom('cameras').selectAll().where('project', '=', project).orderBy('name').execute();
  }

  async insert(row: CameraRow): Promise<void> {
    try {
      await this.store.db.insertInto('cameras').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new CameraError('ALREADY_EXISTS', `A camera named "${row.name}" already exists in project ${row.project}.`, { cause: err });
      }
      throw err;
    }
  }

  async update(id: string, changes: Partial<Omit<CameraRow, 'id' | 'project' | 'name' | 'created_at' | 'created_by'>>): Promise<void> {
    await this.store.db.updateTable('cameras').set(changes).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<void> {
    await this.store.db.deleteFrom('cameras').where('id', '=', id).execute();
  }

  /** The ids of the devices bound to a camera. */
  async boundDevices(cameraId: string): Promise<string[]> {
    const rows = await this.store.db
      .selectFrom('camera_bindings')
      .select('device_id')
      .where('camera_id', '=', cameraId)
      .orderBy('device_id')
      .execute();
    return rows.map((r) => r.device_id);
  }

  /** Binds a device to a camera; binding twice is a no-op. */
  async bind(cameraId: string, deviceId: string, now: number): Promise<void> {
    await this.store.db
      .insertInto('camera_bindings')
      .values({ camera_id: cameraId, device_id: deviceId, created_at: now })
      .onConflict((oc) => oc.columns(['camera_id', 'device_id']).doNothing())
      .execute();
  }

  async unbind(cameraId: string, deviceId: string): Promise<void> {
    await this.store.db.deleteFrom('camera_bindings').where('camera_id', '=', cameraId).where('device_id', '=', deviceId).execute();
  }

  /**
   * True when `deviceId` is bound to a camera of `project` whose credentials
   * are the secret `secretName`, and the device belongs to that project.
   */
  async deviceBoundToSecret(deviceId: string, project: string, secretName: string): Promise<boolean> {
    const row = await this.store.db
      .selectFrom('camera_bindings')
      .innerJoin('cameras', 'cameras.id', 'camera_bindings.camera_id')
      .innerJoin('devices', 'devices.id', 'camera_bindings.device_id')
      .select('camera_bindings.camera_id')
      .where('camera_bindings.device_id', '=', deviceId)
      .where('cameras.project', '=', project)
      .where('cameras.secret_name', '=', secretName)
      .where('devices.project', '=', project)
      .executeTakeFirst();
    return row !== undefined;
  }
}
