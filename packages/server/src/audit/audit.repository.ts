import { sql } from 'kysely';
import type { HashReader, NodeId, StoredNode } from '@sightline/core';
import type { Store } from '../storage/store.js';
import type { AuditEventsTable } from '../storage/schema.js';

export type AuditEventRow = AuditEventsTable;

export interface AuditFilter {
  fromTime?: number;
  toTime?: number;
  principal?: string;
  action?: string;
  resource?: string;
  outcome?: string;
  project?: string;
  afterSeq?: number;
  limit: number;
}

const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');

/** Storage of the Merkle log: events, node hashes, head and checkpoints. */
export class AuditRepository implements HashReader {
  constructor(private readonly store: Store) {}

  async getNodes(ids: readonly NodeId[]): Promise<ReadonlyArray<Uint8Array | undefined>> {
    if (ids.length === 0) return [];
    const rows = await this.store.db
      .selectFrom('audit_nodes')
      .select(['level', 'idx', 'hash'])
      .where((eb) => eb.or(ids.map((id) => eb.and([eb('level', '=', id.level), eb('idx', '=', id.index)]))))
      .execute();
    const byKey = new Map(rows.map((r) => [`${r.level}/${r.idx}`, r.hash]));
    return ids.map((id) => {
      const h = byKey.get(`${id.level}/${id.index}`);
      return h === undefined ? undefined : new Uint8Array(Buffer.from(h, 'base64'));
    });
  }

  /**
   * Reserves the next leaf index: one UPDATE … RETURNING that also takes the
   * write lock on the head row until the transaction ends, so concurrent
   * appends (several replicas on PostgreSQL) are serialised and gap-free.
   */
  async reserveLeaf(): Promise<number> {
    const row = await this.store.db.updateTable('audit_head').set({ size: sql`size + 1` }).where('id', '=', 1).returning('size').executeTakeFirstOrThrow();
    return Number(row.size) - 1;
  }

  async size(): Promise<number> {
    const row = await this.store.db.selectFrom('audit_head').select('size').where('id', '=', 1).executeTakeFirstOrThrow();
    return Number(row.size);
  }

  async append(event: AuditEventRow, nodes: readonly StoredNode[]): Promise<void> {
    await this.store.db.insertInto('audit_events').values(event).execute();
    if (nodes.length > 0) {
      await this.store.db
        .insertInto('audit_nodes')
        .values(nodes.map((n) => ({ level: n.level, idx: n.index, hash: b64(n.hash) })))
        .execute();
    }
  }

  async list(f: AuditFilter): Promise<AuditEventRow[]> {
    let q = this.store.db.selectFrom('audit_events').selectAll();
    if (f.fromTime !== undefined) q = q.where('time', '>=', f.fromTime);
    if (f.toTime !== undefined) q = q.where('time', '<', f.toTime);
    if (f.principal !== undefined) q = q.where('principal_name', '=', f.principal);
    if (f.action !== undefined) q = q.where('action', '=', f.action);
    if (f.resource !== undefined) q = q.where('resource', '=', f.resource);
    if (f.outcome !== undefined) q = q.where('outcome', '=', f.outcome);
    if (f.project !== undefined) q = q.where('project', '=', f.project);
    if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
    return q.orderBy('seq').limit(f.limit).execute();
  }

  async get(seq: number): Promise<AuditEventRow | undefined> {
    return this.store.db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirst();
  }

  /** Raw leaf lines in order, for export and live verification. */
  async lines(afterSeq: number, limit: number): Promise<{ seq: number; line: string }[]> {
    return this.store.db.selectFrom('audit_events').select(['seq', 'line']).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
  }

  async insertCheckpoint(size: number, root: Uint8Array, note: string, at: number): Promise<boolean> {
    const r = await this.store.db
      .insertInto('audit_checkpoints')
      .values({ size, root: b64(root), note, created_at: at })
      .onConflict((oc) => oc.column('size').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  checkpoints(afterSize = -1, limit = Number.MAX_SAFE_INTEGER): Promise<{ size: number; note: string; created_at: number }[]> {
    return this.store.db.selectFrom('audit_checkpoints').select(['size', 'note', 'created_at']).where('size', '>', afterSize).orderBy('size').limit(limit).execute();
  }

  latestCheckpoint(): Promise<{ size: number; note: string; created_at: number } | undefined> {
    return this.store.db.selectFrom('audit_checkpoints').select(['size', 'note', 'created_at']).orderBy('size', 'desc').limit(1).executeTakeFirst();
  }

  /** The first checkpoint at or after `size` (the one an inclusion proof is anchored to). */
  checkpointCovering(size: number): Promise<{ size: number; note: string } | undefined> {
    return this.store.db.selectFrom('audit_checkpoints').select(['size', 'note']).where('size', '>=', size).orderBy('size').limit(1).executeTakeFirst();
  }

  async getSetting(key: string): Promise<string | undefined> {
    return (await this.store.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  async putSettingIfAbsent(key: string, value: string): Promise<void> {
    await this.store.db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute();
  }
}
