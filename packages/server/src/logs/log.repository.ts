import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/store.js';
import { isUniqueViolation } from '../storage/store.js';
import type { LogChunksTable, LogGroupsTable, LogStreamsTable } from '../storage/schema.js';
import { LogError } from './log-errors.js';

export type LogGroupRow = LogGroupsTable;
export type LogStreamRow = LogStreamsTable;
export type LogChunkRow = LogChunksTable;
export type ChunkWithStream = LogChunkRow & { stream_name: string };

export interface ChunkFilter {
  groupId: string;
  fromSeq: number;
  toSeq: number;
  streamId?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit: number;
}

/** Log groups, streams and sealed chunks. */
export class LogRepository {
  constructor(private readonly store: Store) {}

  async insertGroup(row: LogGroupRow): Promise<void> {
    try {
      await this.store.db.insertInto('log_groups').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new LogError('ALREADY_EXISTS', `A log group named "${row.name}" already exists in project ${row.project}.`, { cause: err });
      throw err;
    }
  }

  findGroup(project: string, name: string): Promise<LogGroupRow | undefined> {
    return this.store.db.selectFrom('log_groups').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst();
  }

  async getGroup(project: string, name: string): Promise<LogGroupRow> {
    const row = await this.findGroup(project, name);
    if (row === undefined)
      throw new LogError(
        'LOG_GROUP_NOT_FOUND',
        `No log group named "${name}" in project ${project}; create it first ("sightline logs groups").`,
      );
    return row;
  }

  listGroups(project: string): Promise<LogGroupRow[]> {
    return this.store.db.selectFrom('log_groups').selectAll().where('project', '=', project).orderBy('name').execute();
  }

  allGroups(): Promise<Pick<LogGroupRow, 'id' | 'project' | 'name' | 'retention_days'>[]> {
    return this.store.db.selectFrom('log_groups').select(['id', 'project', 'name', 'retention_days']).execute();
  }

  async updateGroup(
    id: string,
    set: Partial<Pick<LogGroupRow, 'description' | 'key_id' | 'retention_days' | 'updated_at'>>,
  ): Promise<void> {
    await this.store.db.updateTable('log_groups').set(set).where('id', '=', id).execute();
  }

  /**
   * Takes the next chunk sequence number. The update locks the group's row
   * until the batch commits, so sequence order is commit order and a reader
   * that saw `last_seq = N` will find every chunk up to N (none lands behind
   * its cursor later).
   */
  async nextSeq(groupId: string): Promise<{ seq: number; keyId: string }> {
    const r = await this.store.db
      .updateTable('log_groups')
      .set((eb) => ({ last_seq: eb('last_seq', '+', 1) }))
      .where('id', '=', groupId)
      .returning(['last_seq', 'key_id'])
      .executeTakeFirst();
    if (r === undefined) throw new LogError('LOG_GROUP_NOT_FOUND', 'The log group was removed while the batch was being stored.');
    return { seq: Number(r.last_seq), keyId: r.key_id };
  }

  /** The sequence number of the newest committed chunk. */
  async lastSeq(groupId: string): Promise<number> {
    const r = await this.store.db.selectFrom('log_groups').select('last_seq').where('id', '=', groupId).executeTakeFirst();
    return r === undefined ? 0 : Number(r.last_seq);
  }

  findStream(groupId: string, name: string): Promise<LogStreamRow | undefined> {
    return this.store.db.selectFrom('log_streams').selectAll().where('group_id', '=', groupId).where('name', '=', name).executeTakeFirst();
  }

  /** The stream's id, creating the stream on first use (a concurrent creator wins quietly). */
  async ensureStream(groupId: string, name: string, now: number): Promise<string> {
    const existing = await this.findStream(groupId, name);
    if (existing !== undefined) return existing.id;
    await this.store.db
      .insertInto('log_streams')
      .values({ id: randomUUID(), group_id: groupId, name, created_at: now })
      .onConflict((oc) => oc.columns(['group_id', 'name']).doNothing())
      .execute();
    const created = await this.findStream(groupId, name);
    if (created === undefined) throw new Error('log stream vanished after insert');
    return created.id;
  }

  async listStreams(groupId: string): Promise<(LogStreamRow & { last_time: number | null; chunks: number })[]> {
    const rows = await this.store.db
      .selectFrom('log_streams')
      .leftJoin('log_chunks', 'log_chunks.stream_id', 'log_streams.id')
      .select((eb) => [
        'log_streams.id',
        'log_streams.group_id',
        'log_streams.name',
        'log_streams.created_at',
        eb.fn.max('log_chunks.last_time').as('last_time'),
        eb.fn.count('log_chunks.seq').as('chunks'),
      ])
      .where('log_streams.group_id', '=', groupId)
      .groupBy(['log_streams.id', 'log_streams.group_id', 'log_streams.name', 'log_streams.created_at'])
      .orderBy('log_streams.name')
      .execute();
    return rows.map((r) => ({ ...r, last_time: r.last_time === null ? null : Number(r.last_time), chunks: Number(r.chunks) }));
  }

  async insertChunk(row: LogChunkRow): Promise<void> {
    await this.store.db.insertInto('log_chunks').values(row).execute();
  }

  /** Chunks in sequence order, pruned by stream and time range. */
  chunks(f: ChunkFilter): Promise<ChunkWithStream[]> {
    let q = this.store.db
      .selectFrom('log_chunks')
      .innerJoin('log_streams', 'log_streams.id', 'log_chunks.stream_id')
      .selectAll('log_chunks')
      .select('log_streams.name as stream_name')
      .where('log_chunks.group_id', '=', f.groupId)
      .where('log_chunks.seq', '>=', f.fromSeq)
      .where('log_chunks.seq', '<=', f.toSeq);
    if (f.streamId !== undefined) q = q.where('log_chunks.stream_id', '=', f.streamId);
    if (f.since !== undefined) q = q.where('log_chunks.last_time', '>=', f.since);
    if (f.until !== undefined) q = q.where('log_chunks.first_time', '<=', f.until);
    return q.orderBy('log_chunks.seq').limit(f.limit).execute();
  }

  /** Deletes a group's chunks whose newest event is older than `cutoff`. */
  async deleteChunksBefore(groupId: string, cutoff: number): Promise<number> {
    const r = await this.store.db
      .deleteFrom('log_chunks')
      .where('group_id', '=', groupId)
      .where('last_time', '<', cutoff)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
