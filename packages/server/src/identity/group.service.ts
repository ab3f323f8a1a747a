import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { AccessService } from '../access/access.service.js';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import { IdentityError } from './identity-errors.js';
import type { UserRepository } from './user.repository.js';

export interface GroupView {
  name: string;
  description: string;
  createdAt: string;
  members?: string[];
  roles?: { role: string; project: string }[];
  policies?: string[];
}

export class GroupService {
  constructor(
    private readonly store: Store,
    private readonly users: UserRepository,
    private readonly access: AccessService,
    private readonly clock: Clock,
  ) {}

  async create(name: string, description: string): Promise<GroupView> {
    const row = { id: randomUUID(), name, description, created_at: this.clock.now() };
    try {
      await this.store.db.insertInto('groups').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdentityError('ALREADY_EXISTS', `A group named "${name}" already exists.`, { cause: err });
      throw err;
    }
    return { name, description, createdAt: new Date(row.created_at).toISOString() };
  }

  async idOf(name: string): Promise<string> {
    const row = await this.store.db.selectFrom('groups').select('id').where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw new IdentityError('GROUP_NOT_FOUND', `No group named "${name}".`);
    return row.id;
  }

  async list(): Promise<GroupView[]> {
    const rows = await this.store.db.selectFrom('groups').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, description: r.description, createdAt: new Date(r.created_at).toISOString() }));
  }

  async describe(name: string): Promise<GroupView> {
    const row = await this.store.db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw new IdentityError('GROUP_NOT_FOUND', `No group named "${name}".`);
    const members = await this.store.db
      .selectFrom('group_members')
      .innerJoin('users', 'users.id', 'group_members.user_id')
      .select('users.name')
      .where('group_members.group_id', '=', row.id)
      .orderBy('users.name')
      .execute();
    const ref = { type: 'group' as const, id: row.id };
    return {
      name: row.name,
      description: row.description,
      createdAt: new Date(row.created_at).toISOString(),
      members: members.map((m) => m.name),
      roles: await this.access.grantsOf(ref),
      policies: await this.access.attachedTo(ref),
    };
  }

  async addMember(group: string, user: string): Promise<void> {
    const groupId = await this.idOf(group);
    const u = await this.users.getByName(user);
    try {
      await this.store.db.insertInto('group_members').values({ group_id: groupId, user_id: u.id }).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdentityError('ALREADY_EXISTS', `${user} is already a member of ${group}.`, { cause: err });
      throw err;
    }
  }

  async removeMember(group: string, user: string): Promise<void> {
    const groupId = await this.idOf(group);
    const u = await this.users.getByName(user);
    const r = await this.store.db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', u.id).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new IdentityError('USER_NOT_FOUND', `${user} is not a member of ${group}.`);
  }

  async delete(name: string): Promise<void> {
    const id = await this.idOf(name);
    await this.access.deleteGrantsOf({ type: 'group', id });
    await this.store.db.deleteFrom('groups').where('id', '=', id).execute();
  }
}
