import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, gunzip, gzip } from 'node:zlib';
import { EnvelopeError, open, seal } from '@sightline/core';
import { screenFreeText } from '@sightline/protocol';
import type { Clock } from '../clock.js';
import type { AuditSink } from '../http/pipeline.js';
import type { KeyCaller, KmsService } from '../kms/kms.service.js';
import type { ProjectService } from '../projects/project.service.js';
import type { Store } from '../storage/store.js';
import { decodeChunk, decodeCursor, encodeCursor, prepareBatch, type BatchLimits, type Cursor, type LogEvent } from './log-codec.js';
import { LogError } from './log-errors.js';
import type { ChunkWithStream, LogGroupRow, LogRepository } from './log.repository.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

const DAY_MS = 86_400_000;
/** Chunks decrypted for one page (or one wake-up of a long poll): bounds the work of a grep that matches little. */
export const MAX_CHUNKS_PER_PAGE = 100;
export const MAX_WAIT_SECONDS = 30;
const POLL_INTERVAL_MS = 200;
/** Largest gunzip output accepted: above any batch the caps allow, far below a zip bomb's. */
const MAX_CHUNK_PLAINTEXT = 16 * 1024 * 1024;
const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface LogSettings extends BatchLimits {
  defaultRetentionDays: number;
}

export interface LogGroupView {
  project: string;
  name: string;
  description: string;
  kmsKey: { id: string; name: string | null; managedBy: 'service' | 'customer' | null };
  retentionDays: number;
  createdAt: string;
  updatedAt: string;
}

export interface LogQuery {
  stream?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  grep?: string | undefined;
  limit: number;
  after?: string | undefined;
  /** Seconds to wait for new events when none are there yet (long poll), 0–30. */
  wait?: number | undefined;
  /** Aborts the wait when the client goes away. */
  signal?: AbortSignal | undefined;
}

export interface LogEventView {
  time: string;
  stream: string;
  message: string;
  level?: string;
  fields?: Record<string, unknown>;
}

/** Each chunk's data key is bound to its group and position. */
const keyContext = (groupId: string, seq: number): string => `log-chunk:${groupId}:${seq}`;
/** The seal binds the chunk to every column a reader trusts: moving or relabelling a row makes it fail. */
const sealAad = (c: { group_id: string; stream_id: string; seq: number; first_time: number; last_time: number; count: number }): Buffer =>
  Buffer.from(`sightline-log-chunk:v1:${c.group_id}:${c.stream_id}:${c.seq}:${c.first_time}:${c.last_time}:${c.count}`);

/**
 * The log service uses the group's key on the caller's behalf, as CloudWatch
 * Logs does with a customer key: whoever attaches a key to a group must be
 * allowed to use it (checked then); writers and readers need logs:Write /
 * logs:Read, not key:Use. The key use is still audited, naming the caller.
 */
function onBehalf(caller: KeyCaller): KeyCaller {
  const p = caller.principal;
  return {
    principal: { type: 'system', id: p.id, name: `sightline-logs for ${p.type} ${p.name}` },
    requestId: caller.requestId,
    sourceIp: caller.sourceIp,
  };
}

/** Sleeps `ms`, or less if `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    if (signal?.aborted === true) return done();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The log store (seed point 19: logs encrypted by default, customer-managed
 * key option; issue 4: groups, streams, batches with caps, retention). Each
 * batch becomes one chunk: gzip(JSONL) sealed under a data key of its own,
 * wrapped by the group's key. Nothing is stored in plaintext.
 */
export class LogService {
  constructor(
    private readonly store: Store,
    private readonly repo: LogRepository,
    private readonly kms: KmsService,
    private readonly projects: ProjectService,
    private readonly audit: AuditSink,
    private readonly clock: Clock,
    readonly settings: LogSettings,
  ) {}

  private async views(project: string, rows: LogGroupRow[]): Promise<LogGroupView[]> {
    const keyRef = await this.kms.keyRefs(project);
    return rows.map((r) => ({
      project: r.project,
      name: r.name,
      description: r.description,
      kmsKey: keyRef(r.key_id),
      retentionDays: r.retention_days,
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
    }));
  }

  private async view(row: LogGroupRow): Promise<LogGroupView> {
    const [v] = await this.views(row.project, [row]);
    if (v === undefined) throw new Error('unreachable');
    return v;
  }

  /**
   * The id of the key a group uses: the project's service logs key, or a
   * customer key the caller may use. For a customer key, a data key is
   * generated and dropped: it proves, through the KMS's own checks, that the
   * key is enabled and that the caller has key:Use (and its key policy
   * agrees), and it leaves a key:Use event in the audit trail.
   */
  private async resolveKey(caller: KeyCaller, project: string, groupId: string, kmsKey: string | null | undefined): Promise<string> {
    if (kmsKey === undefined || kmsKey === null) return (await this.kms.serviceKey(project, 'logs')).id;
    const key = await this.kms.describe(project, kmsKey);
    if (key.managedBy !== 'customer') {
      throw new LogError(
        'LOG_KEY_INVALID',
        `"${kmsKey}" is a service-managed key: name a customer-managed key, or leave kmsKey out for the service logs key.`,
        {
          details: { field: 'kmsKey' },
        },
      );
    }
    await this.kms.generateDataKey({ project, purpose: 'logs', keyId: key.id }, `log-group:${groupId}`, caller);
    return key.id;
  }

  async createGroup(
    caller: KeyCaller,
    project: string,
    input: { name: string; description: string; kmsKey?: string | undefined; retentionDays?: number | undefined },
  ): Promise<LogGroupView> {
    await this.projects.get(project);
    if ((await this.repo.findGroup(project, input.name)) !== undefined) {
      throw new LogError('ALREADY_EXISTS', `A log group named "${input.name}" already exists in project ${project}.`);
    }
    const id = randomUUID();
    const now = this.clock.now();
    const row: LogGroupRow = {
      id,
      project,
      name: input.name,
      description: input.description,
      key_id: await this.resolveKey(caller, project, id, input.kmsKey),
      retention_days: input.retentionDays ?? this.settings.defaultRetentionDays,
      last_seq: 0,
      created_at: now,
      updated_at: now,
    };
    await this.repo.insertGroup(row);
    return this.view(row);
  }

  /** Creates a group with the service key and default retention if it does not exist yet (device log groups). */
  async ensureGroup(caller: KeyCaller, project: string, name: string, description: string): Promise<void> {
    if ((await this.repo.findGroup(project, name)) !== undefined) return;
    try {
      await this.createGroup(caller, project, { name, description });
    } catch (err) {
      if (!(err instanceof LogError && err.code === 'ALREADY_EXISTS')) throw err;
    }
  }

  async listGroups(project: string): Promise<LogGroupView[]> {
    return this.views(project, await this.repo.listGroups(project));
  }

  async describeGroup(project: string, name: string): Promise<LogGroupView> {
    return this.view(await this.repo.getGroup(project, name));
  }

  /** Changes retention, description or key; a new key applies to new chunks, old ones stay under the key that wrapped them. */
  async updateGroup(
    caller: KeyCaller,
    project: string,
    name: string,
    input: { description?: string | undefined; kmsKey?: string | null | undefined; retentionDays?: number | undefined },
  ): Promise<LogGroupView> {
    const row = await this.repo.getGroup(project, name);
    const set: Partial<LogGroupRow> = { updated_at: this.clock.now() };
    if (input.description !== undefined) set.description = input.description;
    if (input.retentionDays !== undefined) set.retention_days = input.retentionDays;
    if (input.kmsKey !== undefined) set.key_id = await this.resolveKey(caller, project, row.id, input.kmsKey);
    await this.repo.updateGroup(row.id, set);
    return this.view({ ...row, ...set });
  }

  async listStreams(
    project: string,
    group: string,
  ): Promise<{ name: string; createdAt: string; lastEventTime: string | null; chunks: number }[]> {
    const g = await this.repo.getGroup(project, group);
    return (await this.repo.listStreams(g.id)).map((s) => ({
      name: s.name,
      createdAt: new Date(s.created_at).toISOString(),
      lastEventTime: s.last_time === null ? null : new Date(s.last_time).toISOString(),
      chunks: s.chunks,
    }));
  }

  /**
   * Stores one batch as one sealed chunk, creating the stream on first use.
   * Every check, and the compression, run before the first write; the writes
   * then run in one transaction (`commit`: the route's, which also holds the
   * call's audit event), so the chunk, the stream and their audit events
   * commit together or not at all. Callable with any principal (devices
   * write their own streams later).
   */
  async ingest(
    caller: KeyCaller,
    project: string,
    group: string,
    stream: string,
    events: readonly unknown[],
    commit: (fn: () => Promise<void>) => Promise<void> = (fn) => this.store.transaction(fn),
  ): Promise<{ stream: string; count: number; firstTime: string; lastTime: string; sequence: number }> {
    // Screened first, as safeName does: an address used as a name is reported as personal data.
    screenFreeText('stream', stream);
    if (!STREAM_NAME.test(stream)) {
      throw new LogError(
        'LOG_STREAM_NAME_INVALID',
        'A stream name is 1 to 128 of letters, digits, ".", "_" and "-", starting with a letter or digit.',
        { details: { field: 'stream' } },
      );
    }
    const g = await this.repo.getGroup(project, group);
    const now = this.clock.now();
    const batch = prepareBatch(events, this.settings, now, g.retention_days);
    // Compress before encrypting (ciphertext does not compress), outside the transaction: on SQLite
    // the one connection stays free for other calls while zlib works on its own thread.
    const compressed = await gzipAsync(batch.jsonl, { level: constants.Z_BEST_SPEED });
    batch.jsonl.fill(0);
    let seq = 0;
    try {
      await commit(async () => {
        // The group's row is locked from here to the commit: sequence order is commit order.
        const next = await this.repo.nextSeq(g.id);
        seq = next.seq;
        const streamId = await this.repo.ensureStream(g.id, stream, now);
        const meta = {
          group_id: g.id,
          stream_id: streamId,
          seq,
          first_time: batch.firstTime,
          last_time: batch.lastTime,
          count: batch.count,
        };
        const dk = await this.kms.generateDataKey({ project, purpose: 'logs', keyId: next.keyId }, keyContext(g.id, seq), onBehalf(caller));
        const sealed = seal(dk.key, compressed, sealAad(meta));
        await this.repo.insertChunk({
          ...meta,
          key_id: dk.keyId,
          wrapped_key: dk.wrapped.toString('base64'),
          sealed: sealed.toString('base64'),
          created_at: now,
        });
      });
    } finally {
      compressed.fill(0);
    }
    return {
      stream,
      count: batch.count,
      firstTime: new Date(batch.firstTime).toISOString(),
      lastTime: new Date(batch.lastTime).toISOString(),
      sequence: seq,
    };
  }

  /** Unwraps the chunk's data key (the KMS fails closed on a disabled or destroyed key), opens, gunzips and parses it. */
  private async openChunk(row: ChunkWithStream, caller: KeyCaller): Promise<LogEvent[]> {
    const seq = Number(row.seq);
    const meta = { ...row, seq, first_time: Number(row.first_time), last_time: Number(row.last_time), count: Number(row.count) };
    const key = await this.kms.decryptDataKey(Buffer.from(row.wrapped_key, 'base64'), keyContext(row.group_id, seq), caller);
    let compressed: Buffer;
    try {
      compressed = open(key, Buffer.from(row.sealed, 'base64'), sealAad(meta));
    } catch (err) {
      // NIST SP 800-38D 7.2: nothing from a chunk whose tag fails is released.
      if (err instanceof EnvelopeError) {
        throw new LogError(
          'LOG_CHUNK_INTEGRITY_FAILED',
          `Log chunk ${seq} of stream "${row.stream_name}" failed its integrity check (tampered or corrupted); nothing from it was returned.`,
          {
            cause: err,
            details: { stream: row.stream_name, sequence: seq },
          },
        );
      }
      throw err;
    }
    let jsonl: Buffer;
    try {
      jsonl = await gunzipAsync(compressed, { maxOutputLength: MAX_CHUNK_PLAINTEXT });
    } catch (err) {
      throw new LogError(
        'LOG_CHUNK_INTEGRITY_FAILED',
        `Log chunk ${seq} of stream "${row.stream_name}" does not decompress; nothing from it was returned.`,
        { cause: err },
      );
    } finally {
      compressed.fill(0);
    }
    try {
      return decodeChunk(jsonl, { count: meta.count, firstTime: meta.first_time, lastTime: meta.last_time });
    } finally {
      jsonl.fill(0);
    }
  }

  /**
   * Events of a group in the order their batches were stored (within a
   * batch, by time), filtered by stream, time range and a substring, `limit`
   * at a time. `nextToken` always comes back: pass it as `after` to continue,
   * or to follow the group (with `wait`, the call returns as soon as new
   * events arrive, or empty at the deadline). Storage order rather than a
   * global time sort, so a follower never misses a batch that arrives late
   * with older timestamps.
   */
  async read(caller: KeyCaller, project: string, group: string, q: LogQuery): Promise<{ events: LogEventView[]; nextToken: string }> {
    const g = await this.repo.getGroup(project, group);
    let streamId: string | undefined;
    if (q.stream !== undefined) {
      const s = await this.repo.findStream(g.id, q.stream);
      if (s === undefined) throw new LogError('LOG_STREAM_NOT_FOUND', `No stream named "${q.stream}" in log group ${group}.`);
      streamId = s.id;
    }
    if (q.since !== undefined && q.until !== undefined && q.since > q.until)
      throw new LogError('LOG_QUERY_INVALID', '"since" is after "until".');
    const wait = Math.min(Math.max(q.wait ?? 0, 0), MAX_WAIT_SECONDS);
    const deadline = performance.now() + wait * 1000;
    const keyCaller = onBehalf(caller);
    let pos: Cursor = q.after === undefined ? { seq: 1, idx: 0 } : decodeCursor(q.after);
    const out: LogEventView[] = [];
    for (;;) {
      const head = await this.repo.lastSeq(g.id);
      let scanned = 0;
      scan: while (out.length < q.limit && scanned < MAX_CHUNKS_PER_PAGE && pos.seq <= head) {
        const rows = await this.repo.chunks({
          groupId: g.id,
          fromSeq: pos.seq,
          toSeq: head,
          streamId,
          since: q.since,
          until: q.until,
          limit: Math.min(16, MAX_CHUNKS_PER_PAGE - scanned),
        });
        if (rows.length === 0) {
          pos = { seq: head + 1, idx: 0 };
          break;
        }
        for (const row of rows) {
          scanned++;
          const seq = Number(row.seq);
          const events = await this.openChunk(row, keyCaller);
          for (let i = seq === pos.seq ? pos.idx : 0; i < events.length; i++) {
            const e = events[i] as LogEvent;
            if (q.since !== undefined && e.time < q.since) continue;
            if (q.until !== undefined && e.time > q.until) continue;
            if (q.grep !== undefined && !e.message.includes(q.grep)) continue;
            out.push({
              time: new Date(e.time).toISOString(),
              stream: row.stream_name,
              message: e.message,
              ...(e.level === undefined ? {} : { level: e.level }),
              ...(e.fields === undefined ? {} : { fields: e.fields }),
            });
            if (out.length === q.limit) {
              pos = i + 1 < events.length ? { seq, idx: i + 1 } : { seq: seq + 1, idx: 0 };
              break scan;
            }
          }
          pos = { seq: seq + 1, idx: 0 };
        }
      }
      const caughtUp = pos.seq > head;
      const waiting = (): boolean => performance.now() < deadline && q.signal?.aborted !== true;
      if (out.length > 0 || !caughtUp || !waiting()) break;
      // Long poll: wait (never past the deadline, nor once the client has gone) for a batch after `head`.
      // Polling the group's row serves replicas that share PostgreSQL, where an in-process notifier would not.
      let moved = false;
      while (waiting() && !(moved = (await this.repo.lastSeq(g.id)) > head)) {
        await sleep(Math.min(POLL_INTERVAL_MS, Math.max(1, deadline - performance.now())), q.signal);
      }
      if (!moved) break;
    }
    return { events: out, nextToken: encodeCursor(pos) };
  }

  /** Deletes chunks older than their group's retention (the minute sweeper calls this); each group's deletion is audited. */
  async expire(): Promise<number> {
    const now = this.clock.now();
    let total = 0;
    for (const g of await this.repo.allGroups()) {
      const cutoff = now - g.retention_days * DAY_MS;
      total += await this.store.transaction(async () => {
        const n = await this.repo.deleteChunksBefore(g.id, cutoff);
        if (n > 0) {
          await this.audit.record({
            requestId: `logs-expire-${g.id}-${now}`,
            time: now,
            principal: { type: 'anonymous', id: 'system', name: 'sightline-logs' },
            action: 'logs:Expire',
            resource: `srn:sightline:${g.project}:log-group/${g.name}`,
            sourceIp: '127.0.0.1',
            userAgent: 'sightline-logs',
            outcome: 'allowed',
            parameters: { chunks: n, olderThan: new Date(cutoff).toISOString(), retentionDays: g.retention_days },
          });
        }
        return n;
      });
    }
    return total;
  }
}
