import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeChunk, decodeCursor, encodeCursor, MAX_FUTURE_MS, prepareBatch, queryTime, type LogEventInput } from './log-codec.js';
import { LogError } from './log-errors.js';

const DAY = 86_400_000;
const now = Date.parse('2026-03-01T12:00:00Z');
const limits = { maxBatchBytes: 4096, maxEventsPerBatch: 10, maxLineBytes: 512 };
const code = (c: string) => (e: unknown) => e instanceof LogError && e.code === c;
const ev = (t: number | string, message = 'm'): LogEventInput => ({ time: t, message });

test('a batch is sorted by time (stable) and encoded as JSONL; times as ms or ISO', () => {
  const b = prepareBatch(
    [
      ev(now - 10, 'b'),
      ev(new Date(now - 20).toISOString(), 'a'),
      ev(now - 10, 'c'),
      { time: now, message: 'd', level: 'warn', fields: { cam: 'c1', n: 2 } },
    ],
    limits,
    now,
    30,
  );
  assert.equal(b.count, 4);
  assert.equal(b.firstTime, now - 20);
  assert.equal(b.lastTime, now);
  const events = decodeChunk(b.jsonl, { count: 4, firstTime: b.firstTime, lastTime: b.lastTime });
  assert.deepEqual(
    events.map((e) => e.message),
    ['a', 'b', 'c', 'd'],
  );
  assert.deepEqual(events[3], { time: now, message: 'd', level: 'warn', fields: { cam: 'c1', n: 2 } });
});

test('caps and bad values are refused with their codes', () => {
  assert.throws(() => prepareBatch([], limits, now, 30), code('LOG_BATCH_EMPTY'));
  assert.throws(
    () =>
      prepareBatch(
        Array.from({ length: 11 }, () => ev(now)),
        limits,
        now,
        30,
      ),
    code('LOG_BATCH_TOO_MANY_EVENTS'),
  );
  assert.throws(() => prepareBatch([ev(now, 'x'.repeat(513))], limits, now, 30), code('LOG_LINE_TOO_LONG'));
  // 512 bytes is allowed, counted in UTF-8 bytes (a 2-byte character over the edge is not).
  assert.doesNotThrow(() => prepareBatch([ev(now, 'x'.repeat(512))], limits, now, 30));
  assert.throws(() => prepareBatch([ev(now, 'é'.repeat(257))], limits, now, 30), code('LOG_LINE_TOO_LONG'));
  assert.throws(
    () =>
      prepareBatch(
        Array.from({ length: 9 }, () => ev(now, 'x'.repeat(500))),
        limits,
        now,
        30,
      ),
    code('LOG_BATCH_TOO_LARGE'),
  );
  assert.throws(() => prepareBatch([ev('yesterday')], limits, now, 30), code('LOG_EVENT_TIME_INVALID'));
  assert.throws(() => prepareBatch([ev(-1)], limits, now, 30), code('LOG_EVENT_TIME_INVALID'));
  assert.throws(() => prepareBatch([ev(now + MAX_FUTURE_MS + 1)], limits, now, 30), code('LOG_EVENT_TIME_OUT_OF_RANGE'));
  assert.throws(() => prepareBatch([ev(now - 30 * DAY - 1)], limits, now, 30), code('LOG_EVENT_TIME_OUT_OF_RANGE'));
  assert.doesNotThrow(() => prepareBatch([ev(now - 30 * DAY)], limits, now, 30));
  assert.throws(() => prepareBatch([{ time: now, message: 'm', fields: { 'bad key': 1 } }], limits, now, 30), code('LOG_FIELDS_INVALID'));
  assert.throws(
    () =>
      prepareBatch(
        [{ time: now, message: 'm', fields: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }],
        limits,
        now,
        30,
      ),
    code('LOG_FIELDS_INVALID'),
  );
  for (const bad of [
    null,
    'line',
    [1],
    { time: now },
    { time: now, message: 7 },
    { time: now, message: 'm', level: 'loud' },
    { time: now, message: 'm', extra: 1 },
    { time: now, message: 'm', fields: [] },
    { time: now, message: 'm', fields: { a: { b: 1 } } },
    { time: now, message: 'm', fields: { a: Number.NaN } },
  ]) {
    assert.throws(() => prepareBatch([ev(now), bad], limits, now, 30), code('LOG_EVENT_INVALID'), JSON.stringify(bad));
  }
  const err = (() => {
    try {
      prepareBatch([ev(now), ev(now, 'x'.repeat(600))], limits, now, 30);
    } catch (e) {
      return e as LogError;
    }
    return undefined;
  })();
  assert.equal(err?.details?.['index'], 1, 'the error names the event');
  assert.ok(!err?.message.includes('xxxx'), 'the line is not echoed');
});

test('a chunk that does not match its row is refused', () => {
  const b = prepareBatch([ev(now - 5), ev(now)], limits, now, 30);
  assert.throws(() => decodeChunk(b.jsonl, { count: 3, firstTime: now - 5, lastTime: now }), code('LOG_CHUNK_INTEGRITY_FAILED'));
  assert.throws(() => decodeChunk(b.jsonl, { count: 2, firstTime: now - 1, lastTime: now }), code('LOG_CHUNK_INTEGRITY_FAILED'));
  assert.throws(
    () => decodeChunk(Buffer.from('{"time":1,\n{}'), { count: 2, firstTime: 0, lastTime: 9 }),
    code('LOG_CHUNK_INTEGRITY_FAILED'),
  );
});

test('cursors round-trip and foreign tokens are refused', () => {
  assert.deepEqual(decodeCursor(encodeCursor({ seq: 42, idx: 7 })), { seq: 42, idx: 7 });
  for (const bad of ['', 'c1.1', 'c2.1.1', 'c1.-1.0', 'c1.1.1; drop table', 'c1.9999999999999999.0']) {
    assert.throws(() => decodeCursor(bad), code('LOG_CURSOR_INVALID'), bad);
  }
  assert.equal(queryTime('since', '1700000000000'), 1700000000000);
  assert.equal(queryTime('since', '2026-03-01T12:00:00Z'), now);
  assert.equal(queryTime('since', undefined), undefined);
  assert.throws(() => queryTime('since', 'last tuesday'), code('LOG_QUERY_INVALID'));
});
