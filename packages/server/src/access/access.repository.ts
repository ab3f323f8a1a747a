import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import type { PoliciesTable, RoleGrantsTable } from '../storage/schema.js';
import { AccessError } from './access-errors.js';

export type PolicyRow = PoliciesTable;
export type RoleGrantRow = RoleGrantsTable;
export type PrincipalRef = { type: 'user' | 'group'; id: string };

/** Managed policies, their attachments, and role grants. */
export class AccessRepository {
  constructor(private readonly store: Store) {}

  async insertPolicy(row: Omit<PolicyRow, 'id'>): Promise<PolicyRow> {
    const full = { id: randomUUID(), ...row };
    try {
      await this.store.db.insertInto('policies').values(full).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new AccessError('ALREADY_EXISTS', `A policy named "${row.name}" already exists.`, { cause: err });
      throw err;
    }
    return full;
  }

  async getPolicy(name: string): Promise<PolicyRow> {
    const row = await this.store.db.selectFrom('policies').selectAll().where('name', '=', name).executeTakeFirst();
    if (row === undefined) throw new AccessError('POLICY_NOT_FOUND', `No policy named "${name}".`);
    return row;
  }

  listPolicies(): Promise<PolicyRow[]> {
    return this.store.db.selectFrom('policies').selectAll().orderBy('name').execute();
  }

  async updatePolicy(id: string, document: string, description: string, at: number): Promise<void> {
    await this.store.db.updateTable('policies').set({ document, description, updated_at: at }).where('id', '=', id).execute();
  }

  async deletePolicy(id: string): Promise<void> {
    await this.store.db.deleteFrom('policies').where('id', '=', id).execute();
  }

  async attach(policyId: string, to: PrincipalRef): Promise<void> {
    try {
      await this.store.db.insertInto('policy_attachments').values({ policy_id: policyId, principal_type: to.type, principal_id: to.id }).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new AccessError('ALREADY_EXISTS', 'That policy is already attached there.', { cause: err });
      throw err;
    }
  }

  async detach(policyId: string, from: PrincipalRef): Promise<boolean> {
    const r = await this.store.db
      .deleteFrom('policy_attachments')
      .where('policy_id', '=', policyId)
      .where('principal_type', '=', from.type)
      .where('principal_id', '=', from.id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async grantRole(to: PrincipalRef, role: string, project: string, at: number): Promise<void> {
    try {
      await this.store.db
        .insertInto('role_grants')
        .values({ id: randomUUID(), principal_type: to.type, principal_id: to.id, role, project, created_at: at })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new AccessError('ALREADY_EXISTS', `Role ${role} is already granted there for project ${project}.`, { cause: err });
      throw err;
    }
  }

  async revokeRole(from: PrincipalRef, role: string, project: string): Promise<boolean> {
    const r = await this.store.db
      .deleteFrom('role_grants')
      .where('principal_type', '=', from.type)
      .where('principal_id', '=', from.id)
      .where('role', '=', role)
      .where('project', '=', project)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteGrantsOf(p: PrincipalRef): Promise<void> {
    await this.store.db.deleteFrom('role_grants').where('principal_type', '=', p.type).where('principal_id', '=', p.id).execute();
    await this.store.db.deleteFrom('policy_attachments').where('principal_type', '=', p.type).where('principal_id', '=', p.id).execute();
  }

  /** Everything that applies to a user: its own grants and attachments, and those of its groups. */
  async effectiveFor(userId: string): Promise<{
    grants: (RoleGrantRow & { group_name: string | null })[];
    policies: (PolicyRow & { via_type: 'user' | 'group'; group_name: string | null })[];
  }> {
    const db = this.store.db;
    const groups = await db
      .selectFrom('group_members')
      .innerJoin('groups', 'groups.id', 'group_members.group_id')
      .select(['groups.id as id', 'groups.name as name'])
      .where('group_members.user_id', '=', userId)
      .execute();
    const groupName = new Map(groups.map((g) => [g.id, g.name]));
    const ids = [userId, ...groups.map((g) => g.id)];
    const grants = await db.selectFrom('role_grants').selectAll().where('principal_id', 'in', ids).execute();
    const policies = await db
      .selectFrom('policy_attachments')
      .innerJoin('policies', 'policies.id', 'policy_attachments.policy_id')
      .selectAll('policies')
      .select(['policy_attachments.principal_type as via_type', 'policy_attachments.principal_id as via_id'])
      .where('policy_attachments.principal_id', 'in', ids)
      .execute();
    return {
      grants: grants
        .filter((g) => (g.principal_type === 'user' ? g.principal_id === userId : groupName.has(g.principal_id)))
        .map((g) => ({ ...g, group_name: g.principal_type === 'group' ? (groupName.get(g.principal_id) ?? null) : null })),
      policies: policies
        .filter((p) => (p.via_type === 'user' ? p.via_id === userId : groupName.has(p.via_id)))
        .map(({ via_id, ...p }) => ({ ...p, group_name: p.via_type === 'group' ? (groupName.get(via_id) ?? null) : null })),
    };
  }

  grantsOf(p: PrincipalRef): Promise<RoleGrantRow[]> {
    return this.store.db.selectFrom('role_grants').selectAll().where('principal_type', '=', p.type).where('principal_id', '=', p.id).orderBy('project').execute();
  }

  async attachedTo(p: PrincipalRef): Promise<string[]> {
    const rows = await this.store.db
      .selectFrom('policy_attachments')
      .innerJoin('policies', 'policies.id', 'policy_attachments.policy_id')
      .select('policies.name')
      .where('principal_type', '=', p.type)
      .where('principal_id', '=', p.id)
      .orderBy('policies.name')
      .execute();
    return rows.map((r) => r.name);
  }
}
