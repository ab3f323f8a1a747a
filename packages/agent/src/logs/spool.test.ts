import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../clock.js';
import { Backoff } from '../client/backoff.js';
import type { DeviceClient, DeviceLogBatch } from '../client/device-client.js';
import { AgentError, ControlPlaneError } from '../errors.js';
import { grepDir } from '../../test/helpers/grep.js';
import { AgentLogger } from './logger.js';
import { LogShipper } from './shipper.js';
import { LogSpool, type LogEvent } from './spool.js';

const key = randomBytes(32);
const dir = (): string => mkdtempSync(join(tmpdir(), 'sl-spool-'));
const ev = (message: string): LogEvent => ({ time: '2030-01-01T00:00:00.000Z', level: 'info', message });

test('segments are sealed on disk and come back oldest first', async () => {
  const d = dir();
  const spool = await LogSpool.open(d, key);
  await spool.append([ev('first secret-ish line'), ev('second')]);
  await spool.append([ev('third')]);
  assert.deepEqual(grepDir(d, ['secret-ish', 'second', 'third']), []);
  const a = await spool.oldest();
  assert.deepEqual(
    a?.events.map((e) => e.message),
    ['first secret-ish line', 'second'],
  );
  await spool.remove(a.id);
  assert.deepEqual(
    (await spool.oldest())?.events.map((e) => e.message),
    ['third'],
  );
  const reopened = await LogSpool.open(d, key);
  assert.equal(reopened.pendingSegments, 1);
});

test('over the quota the oldest segments go first, and what was dropped is counted and kept across restarts', async () => {
  const d = dir();
  const quota = 3000;
  const spool = await LogSpool.open(d, key, quota);
  for (let i = 0; i < 10; i++) await spool.append([ev(`batch ${i} ${'x'.repeat(400)}`), ev(`batch ${i} b`)]);
  assert.ok(spool.bytes <= quota, `spool ${spool.bytes} bytes within quota ${quota}`);
  assert.ok(spool.dropped > 0);
  assert.equal(spool.dropped % 2, 0, 'whole segments (2 events each) dropped');
  const first = await spool.oldest();
  const firstBatch = Number(/batch (\d+)/.exec(first?.events[0]?.message ?? '')?.[1]);
  assert.equal(firstBatch, spool.dropped / 2, 'the oldest survivors follow exactly what was dropped');
  const reopened = await LogSpool.open(d, key, quota);
  assert.equal(reopened.dropped, spool.dropped);
  assert.equal(reopened.bytes, spool.bytes);
});

test('a segment that does not open (tampered) is discarded and counted as dropped', async () => {
  const d = dir();
  const spool = await LogSpool.open(d, key);
  await spool.append([ev('a'), ev('b'), ev('c')]);
  await spool.append([ev('d')]);
  const [name] = readdirSync(d)
    .filter((n) => n.endsWith('.seg'))
    .sort();
  writeFileSync(join(d, name!), randomBytes(100));
  assert.deepEqual(
    (await spool.oldest())?.events.map((e) => e.message),
    ['d'],
  );
  assert.equal(spool.dropped, 3);
});

function fakeClient(o: { fail?: () => Error | undefined } = {}) {
  const batches: DeviceLogBatch[] = [];
  const client = {
    shipLogs: (b: DeviceLogBatch) => {
      const err = o.fail?.();
      if (err !== undefined) return Promise.reject(err);
      batches.push(structuredClone(b));
      return Promise.resolve();
    },
  } as unknown as DeviceClient;
  return { client, batches };
}

test('the shipper sends oldest first, carries the dropped count once, and deletes only what was accepted', async () => {
  const d = dir();
  const spool = await LogSpool.open(d, key, 1500);
  for (let i = 0; i < 5; i++) await spool.append([ev(`m${i} ${'y'.repeat(300)}`)]);
  const dropped = spool.dropped;
  assert.ok(dropped > 0);
  let down = true;
  const { client, batches } = fakeClient({ fail: () => (down ? new AgentError('CONTROL_PLANE_UNREACHABLE', 'offline') : undefined) });
  const logger = new AgentLogger({ clock: systemClock, sink: () => undefined });
  const shipper = new LogShipper({
    spool,
    client: () => client,
    clock: systemClock,
    backoff: new Backoff({ baseMs: 1, maxMs: 2, random: () => 0 }),
    logger,
    idleMs: 5,
  });
  await assert.rejects(shipper.shipOnce());
  assert.equal(spool.dropped, dropped, 'nothing acknowledged while offline');
  const before = spool.pendingSegments;
  down = false;
  const sent = await shipper.shipOnce();
  assert.equal(sent, before);
  assert.equal(batches[0]?.dropped, dropped);
  assert.ok(batches.slice(1).every((b) => b.dropped === 0));
  assert.deepEqual(
    batches.map((b) => b.stream),
    batches.map(() => 'agent'),
  );
  assert.equal(spool.pendingSegments, 0);
  assert.equal(spool.dropped, 0);
});

test('with nothing left to carry it, a dropped count is shipped in an event of its own', async () => {
  const spool = await LogSpool.open(dir(), key, 10); // smaller than any segment
  await spool.append([ev('lost')]);
  assert.equal(spool.dropped, 1);
  const { client, batches } = fakeClient();
  const logger = new AgentLogger({ clock: systemClock, sink: () => undefined });
  await new LogShipper({
    spool,
    client: () => client,
    clock: systemClock,
    backoff: new Backoff({ baseMs: 1, maxMs: 2, random: () => 0 }),
    logger,
    idleMs: 5,
  }).shipOnce();
  assert.equal(batches.length, 1);
  assert.equal(batches[0]?.dropped, 1);
  assert.match(batches[0]?.events[0]?.message ?? '', /1 events were dropped/);
});

test('the logger writes JSON lines, spools what it logs, and an identity refusal stops the shipper loop', async () => {
  const lines: string[] = [];
  const spool = await LogSpool.open(dir(), key);
  const logger = new AgentLogger({ clock: systemClock, sink: (l) => lines.push(l) });
  logger.attachSpool(spool);
  logger.info('hello', { device: 'cam-01', n: 3 });
  logger.debug('not at info level');
  await logger.flush();
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0]!) as { msg: string }).msg, 'hello device="cam-01" n=3');
  assert.equal((await spool.oldest())?.events[0]?.message, 'hello device="cam-01" n=3');

  const { client } = fakeClient({ fail: () => new ControlPlaneError(401, 'CERT_REVOKED', 'gone') });
  const shipper = new LogShipper({
    spool,
    client: () => client,
    clock: systemClock,
    backoff: new Backoff({ baseMs: 1, maxMs: 2, random: () => 0 }),
    logger,
    idleMs: 5,
  });
  await assert.rejects(
    shipper.run(new AbortController().signal),
    (e: unknown) => e instanceof ControlPlaneError && e.code === 'CERT_REVOKED',
  );
});
