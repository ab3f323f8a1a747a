import { sql } from 'kysely';
import { prunableIndexLimit, type HashReader, type NodeId, type StoredNode } from '@sightline/core';
import { ReusableQuery } from '../storage/reusable-query.js';
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

/** Tables of migration 0008 (audit retention), typed here so the shared schema needs no edit. */
// A type, not an interface: withTables wants an index-compatible record.
type RetentionTables = {
  audit_base: { id: number; size: number; compact_range: string; note: string; pruned_at: number };
  audit_exports: {
    id: string;
    from_seq: number;
    size: number;
    root: string;
    principal_type: string;
    principal_name: string;
    created_at: number;
  };
};

/** The retention cut: events [0, size) were dropped; `compactRange` and the checkpoint `note` at size stand for them. */
export interface AuditBase {
  size: number;
  compactRange: Uint8Array[];
  note: string;
  prunedAt: number;
}

export interface AuditExportReceipt {
  id: string;
  fromSeq: number;
  size: number;
  root: string;
  principalType: string;
  principalName: string;
  createdAt: number;
}

/** Storage of the Merkle log: events, node hashes, head and checkpoints. */
export class AuditRepository implements HashReader {
  constructor(private readonly store: Store) {}

  // Every API call appends an event: its statements are compiled once (see ReusableQuery).
  private readonly reserveQuery = new ReusableQuery((db) => db.updateTable('audit_head').set({ size: sql`size + 1` }).where('id', '=', 1).returning('size'));
  private readonly insertEventQuery = new ReusableQuery((db, $) =>
    db.insertInto('audit_events').values({
      seq: $(0),
      time: $(1),
      principal_type: $(2),
      principal_id: $(3),
      principal_name: $(4),
      project: $(5),
      action: $(6),
      resource: $(7),
      outcome: $(8),
      error_code: $(9),
      request_id: $(10),
      line: $(11),
    }),
  );
  /** By the number of nodes (one append writes 1 + the number of levels it completes). */
  private readonly insertNodesQueries = new Map<number, ReusableQuery<unknown>>();

  private insertNodesQuery(count: number): ReusableQuery<unknown> {
    let q = this.insertNodesQueries.get(count);
    if (q === undefined) {
      q = new ReusableQuery((db, $) =>
        db.insertInto('audit_nodes').values(Array.from({ length: count }, (_, i) => ({ level: $(3 * i), idx: $(3 * i + 1), hash: $(3 * i + 2) }))),
      );
      this.insertNodesQueries.set(count, q);
    }
    return q;
  }

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
    const row = (await this.reserveQuery.execute(this.store.db, [])).rows[0];
    if (row === undefined) throw new Error('audit_head has no row');
    return Number(row.size) - 1;
  }

  async size(): Promise<number> {
    const row = await this.store.db.selectFrom('audit_head').select('size').where('id', '=', 1).executeTakeFirstOrThrow();
    return Number(row.size);
  }

  async append(event: AuditEventRow, nodes: readonly StoredNode[]): Promise<void> {
    const db = this.store.db;
    const e = event;
    await this.insertEventQuery.execute(db, [e.seq, e.time, e.principal_type, e.principal_id, e.principal_name, e.project, e.action, e.resource, e.outcome, e.error_code, e.request_id, e.line]);
    if (nodes.length > 0) {
      await this.insertNodesQuery(nodes.length).execute(
        db,
        nodes.flatMap((n) => [n.level, n.index, b64(n.hash)]),
      );
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

  private get rdb() {
    return this.store.db.withTables<RetentionTables>();
  }

  async base(): Promise<AuditBase> {
    const row = await this.rdb.selectFrom('audit_base').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
    const range = JSON.parse(row.compact_range) as string[];
    return { size: Number(row.size), compactRange: range.map((h) => new Uint8Array(Buffer.from(h, 'base64'))), note: row.note, prunedAt: Number(row.pruned_at) };
  }

  /** The stored root of the checkpoint of `size`, if one was signed. */
  async checkpointAt(size: number): Promise<{ size: number; root: string; note: string } | undefined> {
    const row = await this.store.db.selectFrom('audit_checkpoints').select(['size', 'root', 'note']).where('size', '=', size).executeTakeFirst();
    return row === undefined ? undefined : { size: Number(row.size), root: row.root, note: row.note };
  }

  async insertExport(r: AuditExportReceipt): Promise<void> {
    await this.rdb
      .insertInto('audit_exports')
      .values({ id: r.id, from_seq: r.fromSeq, size: r.size, root: r.root, principal_type: r.principalType, principal_name: r.principalName, created_at: r.createdAt })
      .execute();
  }

  async exports(limit: number): Promise<AuditExportReceipt[]> {
    const rows = await this.rdb.selectFrom('audit_exports').selectAll().orderBy('size', 'desc').orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      id: r.id,
      fromSeq: Number(r.from_seq),
      size: Number(r.size),
      root: r.root,
      principalType: r.principal_type,
      principalName: r.principal_name,
      createdAt: Number(r.created_at),
    }));
  }

  /** The largest size an export covered without a gap: one that started at or before the cut `base`. */
  async exportedThrough(base: number): Promise<number> {
    const row = await this.rdb.selectFrom('audit_exports').select((eb) => eb.fn.max('size').as('size')).where('from_seq', '<=', base).executeTakeFirst();
    return row?.size === null || row?.size === undefined ? 0 : Number(row.size);
  }

  /** The first event at or after `time` (the oldest one retention must keep), or undefined. */
  async firstSeqSince(time: number): Promise<number | undefined> {
    const row = await this.store.db.selectFrom('audit_events').select((eb) => eb.fn.min('seq').as('seq')).where('time', '>=', time).executeTakeFirst();
    return row?.seq === null || row?.seq === undefined ? undefined : Number(row.seq);
  }

  /** The largest signed checkpoint size in (after, atMost]. */
  async lastCheckpointIn(after: number, atMost: number): Promise<{ size: number; root: string; note: string } | undefined> {
    const row = await this.store.db
      .selectFrom('audit_checkpoints')
      .select(['size', 'root', 'note'])
      .where('size', '>', after)
      .where('size', '<=', atMost)
      .orderBy('size', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : { size: Number(row.size), root: row.root, note: row.note };
  }

  /**
   * Moves the cut forward to `cut` (run inside a transaction): the base row first, which also
   * locks it so two replicas cannot cut at once; false when the base is already at or past `cut`.
   */
  async moveBase(cut: number, compactRange: readonly Uint8Array[], note: string, at: number): Promise<boolean> {
    const r = await this.rdb
      .updateTable('audit_base')
      .set({ size: cut, compact_range: JSON.stringify(compactRange.map(b64)), note, pruned_at: at })
      .where('id', '=', 1)
      .where('size', '<', cut)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Deletes what the cut makes unneeded: events before it, checkpoints before it, and the node
   * hashes strictly inside its compact range (prunableIndexLimit). Returns the events deleted.
   */
  async dropBefore(cut: number): Promise<number> {
    const events = await this.store.db.deleteFrom('audit_events').where('seq', '<', cut).executeTakeFirst();
    for (let level = 0; prunableIndexLimit(cut, level) > 0; level++) {
      await this.store.db.deleteFrom('audit_nodes').where('level', '=', level).where('idx', '<', prunableIndexLimit(cut, level)).execute();
    }
    await this.store.db.deleteFrom('audit_checkpoints').where('size', '<', cut).execute();
    return Number(events.numDeletedRows);
  }

  async getSetting(key: string): Promise<string | undefined> {
    return (await this.store.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  async putSettingIfAbsent(key: string, value: string): Promise<void> {
    await this.store.db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute();
  }
}
