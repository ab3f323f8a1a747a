import { LogError } from './log-errors.js';

/**
 * Pure parts of the log store: checking a batch against its caps, encoding
 * it as the JSONL a chunk holds, decoding a chunk, and the read cursor.
 */

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type FieldValue = string | number | boolean | null;

/** One event as a client sends it; `time` is epoch milliseconds or an ISO 8601 string. */
export interface LogEventInput {
  time: number | string;
  message: string;
  level?: LogLevel | undefined;
  fields?: Record<string, FieldValue> | undefined;
}

/** One event as stored in a chunk and returned by reads. */
export interface LogEvent {
  time: number;
  message: string;
  level?: LogLevel;
  fields?: Record<string, FieldValue>;
}

export interface BatchLimits {
  maxBatchBytes: number;
  maxEventsPerBatch: number;
  maxLineBytes: number;
}

export interface PreparedBatch {
  /** The events sorted by time (stable), one JSON object per line. */
  jsonl: Buffer;
  count: number;
  firstTime: number;
  lastTime: number;
}

const DAY_MS = 86_400_000;
/** Events may be stamped at most this far ahead of the server's clock (device clock skew). */
export const MAX_FUTURE_MS = 2 * 3600_000;
/** As CloudWatch Logs counts a batch: each event costs its bytes plus 26. */
export const EVENT_OVERHEAD_BYTES = 26;
export const MAX_FIELDS = 32;
const FIELD_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

function eventTime(raw: unknown, index: number): number {
  const t =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && raw.length <= 40 && /^\d{4}-\d{2}-\d{2}T/.test(raw)
        ? Date.parse(raw)
        : Number.NaN;
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new LogError('LOG_EVENT_TIME_INVALID', `events[${index}].time must be epoch milliseconds or an ISO 8601 time.`, {
      details: { index },
    });
  }
  return t;
}

const LEVEL_SET: ReadonlySet<string> = new Set(LOG_LEVELS);
const EVENT_KEYS: ReadonlySet<string> = new Set(['time', 'message', 'level', 'fields']);

function invalid(index: number, field: string, what: string): LogError {
  return new LogError('LOG_EVENT_INVALID', `events[${index}].${field} ${what}.`, { details: { index, field } });
}

/** The shape of one event, checked by hand: a batch holds up to 10,000 and this runs once per event. */
function checkShape(e: unknown, i: number): asserts e is LogEventInput {
  if (e === null || typeof e !== 'object' || Array.isArray(e))
    throw new LogError('LOG_EVENT_INVALID', `events[${i}] must be an object.`, { details: { index: i } });
  const o = e as Record<string, unknown>;
  for (const k in o) {
    // The key is not echoed: whatever a client put there is not ours to repeat.
    if (!EVENT_KEYS.has(k))
      throw new LogError('LOG_EVENT_INVALID', `events[${i}] has a field other than time, message, level and fields.`, {
        details: { index: i },
      });
  }
  if (typeof o['message'] !== 'string') throw invalid(i, 'message', 'must be a string');
  const level = o['level'];
  if (level !== undefined && (typeof level !== 'string' || !LEVEL_SET.has(level)))
    throw invalid(i, 'level', `must be one of ${LOG_LEVELS.join(', ')}`);
  const fields = o['fields'];
  if (fields !== undefined) {
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) throw invalid(i, 'fields', 'must be an object');
    let n = 0;
    for (const [k, v] of Object.entries(fields)) {
      if (++n > MAX_FIELDS || !FIELD_KEY.test(k)) {
        throw new LogError(
          'LOG_FIELDS_INVALID',
          `events[${i}].fields: at most ${MAX_FIELDS} keys, each a letter or "_" then letters, digits, ".", "_" or "-".`,
          { details: { index: i } },
        );
      }
      if (v !== null && typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) {
        throw invalid(i, 'fields', 'values must be strings, finite numbers, booleans or null');
      }
    }
  }
}

/**
 * Checks a batch against the caps (issue 4: "ingestion API (batches, size
 * caps)"; STYLE: hard caps on everything read from outside) and encodes it.
 * The events come straight from the request (or a device), so their shape
 * is checked here too. All checks run before anything is written, so a
 * refused batch writes nothing.
 */
export function prepareBatch(events: readonly unknown[], limits: BatchLimits, now: number, retentionDays: number): PreparedBatch {
  if (events.length === 0) throw new LogError('LOG_BATCH_EMPTY', 'Send at least one event.');
  if (events.length > limits.maxEventsPerBatch) {
    throw new LogError('LOG_BATCH_TOO_MANY_EVENTS', `A batch holds at most ${limits.maxEventsPerBatch} events; split it.`, {
      details: { limit: limits.maxEventsPerBatch, count: events.length },
    });
  }
  const oldest = now - retentionDays * DAY_MS;
  const newest = now + MAX_FUTURE_MS;
  const tooLarge = (): LogError =>
    new LogError(
      'LOG_BATCH_TOO_LARGE',
      `The batch is over ${limits.maxBatchBytes} bytes (messages and fields, plus ${EVENT_OVERHEAD_BYTES} per event); split it.`,
      {
        details: { limit: limits.maxBatchBytes },
      },
    );
  const times: number[] = new Array<number>(events.length);
  const lines: Buffer[] = new Array<Buffer>(events.length);
  let sorted = true;
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    checkShape(e, i);
    const t = eventTime(e.time, i);
    if (t < oldest || t > newest) {
      throw new LogError(
        'LOG_EVENT_TIME_OUT_OF_RANGE',
        `events[${i}].time is outside what this group keeps: from ${new Date(oldest).toISOString()} (its ${retentionDays}-day retention) to 2 hours ahead of the server's clock.`,
        { details: { index: i } },
      );
    }
    const m = e.message;
    const messageBytes = Buffer.byteLength(m, 'utf8');
    if (messageBytes > limits.maxLineBytes) {
      throw new LogError('LOG_LINE_TOO_LONG', `events[${i}].message is ${messageBytes} bytes; the limit is ${limits.maxLineBytes}.`, {
        details: { index: i, limit: limits.maxLineBytes },
      });
    }
    const stored: LogEvent = { time: t, message: m };
    if (e.level !== undefined) stored.level = e.level;
    if (e.fields !== undefined) stored.fields = e.fields;
    bytes += messageBytes + (e.fields === undefined ? 0 : Buffer.byteLength(JSON.stringify(e.fields), 'utf8')) + EVENT_OVERHEAD_BYTES;
    if (bytes > limits.maxBatchBytes) throw tooLarge();
    // Encoded line by line: joining thousands of strings and encoding the result is several times slower.
    lines[i] = Buffer.from(i === 0 ? JSON.stringify(stored) : `\n${JSON.stringify(stored)}`, 'utf8');
    if (i > 0 && t < (times[i - 1] as number)) sorted = false;
    times[i] = t;
  }
  if (!sorted) {
    // Stable (ES2019): equal times keep the sender's order.
    const idx = Array.from(times.keys()).sort((a, b) => (times[a] as number) - (times[b] as number));
    const text = idx.map((k) => (lines[k] as Buffer).toString('utf8').replace(/^\n/, '')).join('\n');
    times.sort((a, b) => a - b);
    return {
      jsonl: Buffer.from(text, 'utf8'),
      count: events.length,
      firstTime: times[0] as number,
      lastTime: times[times.length - 1] as number,
    };
  }
  const jsonl = Buffer.concat(lines);
  return { jsonl, count: events.length, firstTime: times[0] as number, lastTime: times[times.length - 1] as number };
}

function corrupt(why: string): LogError {
  return new LogError(
    'LOG_CHUNK_INTEGRITY_FAILED',
    `A stored log chunk failed its integrity check (${why}); nothing from it was returned.`,
  );
}

/** Parses a chunk's JSONL, checking it against the row's count and time range (which the seal's AAD also binds). */
export function decodeChunk(jsonl: Buffer, expect: { count: number; firstTime: number; lastTime: number }): LogEvent[] {
  const lines = jsonl.length === 0 ? [] : jsonl.toString('utf8').split('\n');
  if (lines.length !== expect.count) throw corrupt('event count');
  const events: LogEvent[] = new Array<LogEvent>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    let e: LogEvent;
    try {
      e = JSON.parse(lines[i] as string) as LogEvent;
    } catch {
      throw corrupt('not JSON');
    }
    if (typeof e?.time !== 'number' || typeof e.message !== 'string' || e.time < expect.firstTime || e.time > expect.lastTime)
      throw corrupt('event shape');
    events[i] = e;
  }
  return events;
}

/** The read position: the next event to return is event `idx` of the chunk with sequence `seq`. */
export interface Cursor {
  seq: number;
  idx: number;
}

export function encodeCursor(c: Cursor): string {
  return `c1.${c.seq}.${c.idx}`;
}

export function decodeCursor(token: string): Cursor {
  const m = /^c1\.(\d{1,15})\.(\d{1,6})$/.exec(token);
  if (m === null) throw new LogError('LOG_CURSOR_INVALID', 'The "after" token is not one this server returned; start again without it.');
  return { seq: Number(m[1]), idx: Number(m[2]) };
}

/** Parses a query time: epoch milliseconds or ISO 8601. */
export function queryTime(field: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const t = /^\d{1,15}$/.test(raw) ? Number(raw) : /^\d{4}-\d{2}-\d{2}T/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isSafeInteger(t))
    throw new LogError('LOG_QUERY_INVALID', `${field} must be epoch milliseconds or an ISO 8601 time.`, { details: { field } });
  return t;
}
