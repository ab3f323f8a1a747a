import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_SEAL_PLAINTEXT, SEAL_OVERHEAD } from '@sightline/core';
import { z } from 'zod';
import { writeFileAtomic } from '../storage/atomic.js';
import { ensurePrivateDir } from '../storage/data-dir.js';
import { Sealer } from '../storage/sealer.js';

export const logEvent = z
  .object({ time: z.string(), level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string().max(16 * 1024) })
  .strict();
export type LogEvent = z.infer<typeof logEvent>;

/** Default disk quota of the spool (issue 5). */
export const DEFAULT_SPOOL_QUOTA_BYTES = 256 * 1024 * 1024;
/** A segment is one shipped batch: at most 5000 events (the API's cap) and about 1 MiB. */
export const MAX_SEGMENT_EVENTS = 5000;
export const MAX_SEGMENT_BYTES = 1024 * 1024;

const SEGMENT = /^(\d{12})-(\d{1,4})\.seg$/;
const META = 'meta';
const spoolMeta = z.object({ dropped: z.number().int().min(0) }).strict();

interface Segment {
  name: string;
  seq: number;
  count: number;
  bytes: number;
}

/**
 * Logs waiting for the control plane, sealed on disk (seed point 12), with a
 * quota: when a new segment would not fit, the oldest go first and their
 * events are counted as dropped; the count rides on the next batch and every
 * heartbeat until the control plane has it.
 */
export class LogSpool {
  private segments: Segment[] = [];
  private droppedCount = 0;
  private seq = 0;
  private readonly sealer: Sealer;

  private constructor(
    private readonly dir: string,
    rootKey: Uint8Array,
    private readonly quotaBytes: number,
  ) {
    this.sealer = new Sealer(rootKey, 'spool');
  }

  static async open(dir: string, rootKey: Uint8Array, quotaBytes = DEFAULT_SPOOL_QUOTA_BYTES): Promise<LogSpool> {
    const spool = new LogSpool(dir, rootKey, quotaBytes);
    await ensurePrivateDir(dir);
    for (const name of (await readdir(dir)).sort()) {
      const m = SEGMENT.exec(name);
      if (m === null) {
        if (name.includes('.tmp-')) await rm(join(dir, name), { force: true }); // a write cut short by a crash
        continue;
      }
      const bytes = (await stat(join(dir, name))).size;
      spool.segments.push({ name, seq: Number(m[1]), count: Number(m[2]), bytes });
    }
    spool.seq = spool.segments.reduce((max, s) => Math.max(max, s.seq), 0);
    try {
      const raw = await readFile(join(dir, `${META}.sealed`));
      spool.droppedCount = spoolMeta.parse(JSON.parse(spool.sealer.open(META, raw).toString('utf8'))).dropped;
    } catch {
      spool.droppedCount = 0; // no meta yet, or unreadable: nothing known to have been dropped
    }
    return spool;
  }

  get bytes(): number {
    return this.segments.reduce((sum, s) => sum + s.bytes, 0);
  }

  get dropped(): number {
    return this.droppedCount;
  }

  get pendingSegments(): number {
    return this.segments.length;
  }

  private async saveMeta(): Promise<void> {
    await writeFileAtomic(
      join(this.dir, `${META}.sealed`),
      this.sealer.seal(META, Buffer.from(JSON.stringify({ dropped: this.droppedCount }))),
    );
  }

  /** Adds events as one or more sealed segments, dropping the oldest segments to stay within the quota. */
  async append(events: readonly LogEvent[], alsoDropped = 0): Promise<void> {
    let dropped = alsoDropped;
    for (const chunk of chunkEvents(events)) {
      const plain = Buffer.from(JSON.stringify(chunk), 'utf8');
      const name = `${String(++this.seq).padStart(12, '0')}-${chunk.length}.seg`;
      const sealed = this.sealer.seal(name, plain);
      let total = this.bytes;
      while (total + sealed.length > this.quotaBytes && this.segments.length > 0) {
        const oldest = this.segments.shift()!;
        await rm(join(this.dir, oldest.name), { force: true });
        dropped += oldest.count;
        total -= oldest.bytes;
      }
      if (sealed.length > this.quotaBytes) {
        dropped += chunk.length; // a quota smaller than one segment: nothing can be kept
        continue;
      }
      await writeFileAtomic(join(this.dir, name), sealed);
      this.segments.push({ name, seq: this.seq, count: chunk.length, bytes: sealed.length });
    }
    if (dropped > 0) {
      this.droppedCount += dropped;
      await this.saveMeta();
    }
  }

  /** The oldest segment's events; a segment that does not open is discarded and counted as dropped. */
  async oldest(): Promise<{ id: string; events: LogEvent[] } | undefined> {
    while (this.segments.length > 0) {
      const seg = this.segments[0]!;
      try {
        const raw = await readFile(join(this.dir, seg.name));
        if (raw.length > MAX_SEAL_PLAINTEXT + SEAL_OVERHEAD) throw new Error('segment too large');
        const events = z
          .array(logEvent)
          .max(MAX_SEGMENT_EVENTS)
          .parse(JSON.parse(this.sealer.open(seg.name, raw).toString('utf8')));
        return { id: seg.name, events };
      } catch {
        await this.remove(seg.name);
        this.droppedCount += seg.count;
        await this.saveMeta();
      }
    }
    return undefined;
  }

  async remove(id: string): Promise<void> {
    const i = this.segments.findIndex((s) => s.name === id);
    if (i < 0) return;
    this.segments.splice(i, 1);
    await rm(join(this.dir, id), { force: true });
  }

  /** The control plane has been told about `n` dropped events. */
  async acknowledgeDropped(n: number): Promise<void> {
    if (n <= 0) return;
    this.droppedCount = Math.max(0, this.droppedCount - n);
    await this.saveMeta();
  }
}

/** Splits events into segments of at most MAX_SEGMENT_EVENTS events and about MAX_SEGMENT_BYTES. */
function* chunkEvents(events: readonly LogEvent[]): Generator<LogEvent[]> {
  let chunk: LogEvent[] = [];
  let size = 2;
  for (const e of events) {
    const n = e.message.length * 3 + 80; // UTF-8 worst case plus the JSON around it
    if (chunk.length > 0 && (chunk.length >= MAX_SEGMENT_EVENTS || size + n > MAX_SEGMENT_BYTES)) {
      yield chunk;
      chunk = [];
      size = 2;
    }
    chunk.push(e);
    size += n;
  }
  if (chunk.length > 0) yield chunk;
}
