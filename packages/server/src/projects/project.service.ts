import { randomUUID } from 'node:crypto';
import { SightlineError } from '@sightline/core';
import type { Clock } from '../clock.js';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';

export type ProjectErrorCode = 'PROJECT_NOT_FOUND' | 'ALREADY_EXISTS' | 'CONFLICT';
export class ProjectError extends SightlineError<ProjectErrorCode> {}

export interface ProjectSettings {
  /** Issue 8: whether principals with device:ViewOutput may preview app outputs through the console. */
  outputPreview: boolean;
}

export interface ProjectView {
  name: string;
  description: string;
  createdAt: string;
  settings: ProjectSettings;
}

const viewOf = (r: { name: string; description: string; created_at: number; output_preview: number }): ProjectView => ({
  name: r.name,
  description: r.description,
  createdAt: new Date(Number(r.created_at)).toISOString(),
  settings: { outputPreview: Number(r.output_preview) === 1 },
});

/**
 * Projects are tenants (seed: "use separate accounts for production"): every
 * resource belongs to one, and roles are granted per project.
 */
export class ProjectService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async create(name: string, description: string): Promise<ProjectView> {
    const row = { id: randomUUID(), name, description, created_at: this.clock.now() };
    try {
      await this.store.db.insertInto('projects').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ProjectError('ALREADY_EXISTS', `A project named "${name}" already exists.`, { cause: err });
      throw err;
    }
    return { name, description, createdAt: new Date(row.created_at).toISOString(), settings: { outputPreview: false } };
  }

  async get(name: string): Promise<ProjectView> {
    const r = await this.store.db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst();
    if (r === undefined) throw new ProjectError('PROJECT_NOT_FOUND', `No project named "${name}".`);
    return viewOf(r);
  }

  /** A project's settings (PROJECT_NOT_FOUND when there is no such project). */
  async settings(name: string): Promise<ProjectSettings> {
    return (await this.get(name)).settings;
  }

  /** Changes settings; the route's own audit event records what changed (issue 8: an Admin's call). */
  async updateSettings(name: string, change: { outputPreview?: boolean | undefined }): Promise<ProjectView> {
    await this.get(name);
    if (change.outputPreview !== undefined) {
      await this.store.db
        .updateTable('projects')
        .set({ output_preview: change.outputPreview ? 1 : 0 })
        .where('name', '=', name)
        .execute();
    }
    return this.get(name);
  }

  async exists(name: string): Promise<boolean> {
    return (await this.store.db.selectFrom('projects').select('id').where('name', '=', name).executeTakeFirst()) !== undefined;
  }

  async list(): Promise<ProjectView[]> {
    const rows = await this.store.db.selectFrom('projects').selectAll().orderBy('name').execute();
    return rows.map(viewOf);
  }

  async delete(name: string): Promise<void> {
    await this.get(name);
    if (name === 'default') throw new ProjectError('CONFLICT', 'The default project cannot be deleted.');
    await this.store.db.deleteFrom('role_grants').where('project', '=', name).execute();
    await this.store.db.deleteFrom('projects').where('name', '=', name).execute();
  }
}
