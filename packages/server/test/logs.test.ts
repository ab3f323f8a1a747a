import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Principal } from '../src/http/router.js';
import type { KeyCaller } from '../src/kms/kms.service.js';
import { createLogger } from '../src/logging/logger.js';
import { allTableText, engines, filesUnder, startTestServer, type TestServer } from './harness.js';

interface Err {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
interface GroupView {
  name: string;
  retentionDays: number;
  kmsKey: { id: string; name: string | null; managedBy: string | null };
}
interface EventView {
  time: string;
  stream: string;
  message: string;
  level?: string;
  fields?: Record<string, unknown>;
}
interface Page {
  events: EventView[];
  nextToken: string;
}
interface AuditList {
  events: {
    event: { action: string; outcome: string; principal: { type: string; id: string; name: string }; parameters: Record<string, unknown> };
  }[];
}

const DAY = 86_400_000;
const groups = '/api/v1/projects/default/log-groups';

/** Log lines written below: each carries a marker that must never be found at rest. */
let counter = 0;
const lines: string[] = [];
function line(text: string): string {
  const l = `${text} [plaintext-marker-${(++counter).toString().padStart(5, '0')}-Q7]`;
  lines.push(l);
  return l;
}



const device = (id: string): Principal => ({ type: 'device', id, name: id, userId: '', mfaPresent: false, enrollmentOnly: false });

for (const engine of await engines()) {
  describe(`[${engine}] log store`, () => {
    let s: TestServer;
    let admin: string;
    const logLines: string[] = [];

    // A fresh admin sign-in (the harness steps the frozen clock for its TOTP code).
    const login = (): Promise<string> => s.adminToken(true);
    const ingest = (group: string, stream: string, events: unknown[], token = admin) =>
      s.call<{ count: number; sequence: number } & Err>('POST', `${groups}/${group}/streams/${stream}/events`, { events }, token);
    const read = (group: string, query: string, token = admin) =>
      s.call<Page & Err>('GET', `${groups}/${group}/events?${query}`, undefined, token);
    const readAll = async (group: string, query = '', pageSize = 1000): Promise<EventView[]> => {
      const out: EventView[] = [];
      let after = '';
      for (let i = 0; i < 1000; i++) {
        const r = await read(group, `limit=${pageSize}${query === '' ? '' : `&${query}`}${after === '' ? '' : `&after=${after}`}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        out.push(...r.body.events);
        if (r.body.events.length === 0) return out;
        after = r.body.nextToken;
      }
      throw new Error('paging did not end');
    };
    const chunkCount = async (group: string): Promise<number> => {
      const rows = await s.plane.services.store.db
        .selectFrom('log_chunks')
        .innerJoin('log_groups', 'log_groups.id', 'log_chunks.group_id')
        .select('log_chunks.seq')
        .where('log_groups.name', '=', group)
        .execute();
      return rows.length;
    };
    const audit = async (action: string): Promise<AuditList['events']> =>
      (await s.call<AuditList>('GET', `/api/v1/audit/events?action=${encodeURIComponent(action)}&limit=1000`, undefined, admin)).body
        .events;

    before(async () => {
      s = await startTestServer({ engine, config: { 'auth.requireMfa': false }, logger: createLogger('debug', (l) => logLines.push(l)) });
      admin = await s.adminToken();
    });
    after(() => s.close());

    test('groups: service key by default, customer key per group, retention 1-3650 days (default 30)', async () => {
      const created = await s.call<GroupView>('POST', groups, { name: 'apps', description: 'App output' }, admin);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.retentionDays, 30);
      assert.equal(created.body.kmsKey.name, 'sightline-logs');
      assert.equal(created.body.kmsKey.managedBy, 'service');
      assert.equal((await s.call('POST', '/api/v1/projects/default/keys', { name: 'logs-cmk' }, admin)).status, 201);
      const cmk = await s.call<GroupView>('POST', groups, { name: 'secure', kmsKey: 'logs-cmk', retentionDays: 90 }, admin);
      assert.equal(cmk.status, 201, JSON.stringify(cmk.body));
      assert.equal(cmk.body.kmsKey.name, 'logs-cmk');
      assert.equal(cmk.body.kmsKey.managedBy, 'customer');
      assert.equal(cmk.body.retentionDays, 90);

      const patched = await s.call<GroupView>('PATCH', `${groups}/apps`, { retentionDays: 7, kmsKey: 'logs-cmk' }, admin);
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.retentionDays, 7);
      assert.equal(patched.body.kmsKey.name, 'logs-cmk');
      const back = await s.call<GroupView>('PATCH', `${groups}/apps`, { retentionDays: 30, kmsKey: null }, admin);
      assert.equal(back.body.kmsKey.name, 'sightline-logs');
      const list = await s.call<{ groups: GroupView[] }>('GET', groups, undefined, admin);
      assert.deepEqual(
        list.body.groups.map((g) => g.name),
        ['apps', 'secure'],
      );
      assert.equal((await s.call<GroupView>('GET', `${groups}/secure`, undefined, admin)).body.retentionDays, 90);

      const bad: { body: unknown; code: string; status: number; path?: string }[] = [
        { body: { name: 'apps' }, code: 'ALREADY_EXISTS', status: 409 },
        { body: { name: 'g', retentionDays: 0 }, code: 'VALIDATION_FAILED', status: 400 },
        { body: { name: 'g', retentionDays: 3651 }, code: 'VALIDATION_FAILED', status: 400 },
        { body: { name: 'g', kmsKey: 'no-such-key' }, code: 'KEY_NOT_FOUND', status: 404 },
        { body: { name: 'g', kmsKey: 'sightline-logs' }, code: 'LOG_KEY_INVALID', status: 400 },
        { body: { name: 'ops@example.com' }, code: 'SENSITIVE_FREE_TEXT', status: 400 },
        // The pipeline refuses an unknown project before the route; the service checks too, for direct callers.
        { body: { name: 'g' }, code: 'NOT_FOUND|PROJECT_NOT_FOUND', status: 404, path: '/api/v1/projects/nowhere/log-groups' },
      ];
      for (const b of bad) {
        const r = await s.call<Err>('POST', b.path ?? groups, b.body, admin);
        assert.equal(r.status, b.status, JSON.stringify(r.body));
        assert.ok(b.code.split('|').includes(r.body.error.code), `${b.code}: ${r.body.error.code}`);
      }
      const missing = await s.call<Err>('PATCH', `${groups}/nope`, { retentionDays: 3 }, admin);
      assert.equal(missing.body.error.code, 'LOG_GROUP_NOT_FOUND');
      assert.equal((await s.call<{ groups: unknown[] }>('GET', groups, undefined, admin)).body.groups.length, 2, 'nothing was written');
    });

    test('ingest batches into auto-created streams; read back with stream, time and grep filters, paging by cursor', async () => {
      const t0 = s.clock.now() - 3600_000;
      const cam1 = Array.from({ length: 25 }, (_, i) => ({
        time: t0 + i * 1000,
        message: line(`cam-1 frame ${i} person detected`),
        level: i % 5 === 0 ? 'warn' : 'info',
        fields: { camera: 'cam-1', n: i },
      }));
      // Sent out of order: a batch is stored sorted by time.
      const r1 = await ingest('apps', 'box-1', [...cam1].reverse());
      assert.equal(r1.status, 201, JSON.stringify(r1.body));
      assert.equal(r1.body.count, 25);
      assert.equal(r1.body.sequence, 1);
      const cam2 = Array.from({ length: 10 }, (_, i) => ({
        time: new Date(t0 + 500 + i * 1000).toISOString(),
        message: line(`cam-2 frame ${i} vehicle`),
      }));
      assert.equal((await ingest('apps', 'box-2', cam2)).status, 201);

      const streams = await s.call<{ streams: { name: string; chunks: number; lastEventTime: string }[] }>(
        'GET',
        `${groups}/apps/streams`,
        undefined,
        admin,
      );
      assert.deepEqual(
        streams.body.streams.map((x) => [x.name, x.chunks]),
        [
          ['box-1', 1],
          ['box-2', 1],
        ],
      );

      const all = await readAll('apps');
      assert.equal(all.length, 35);
      assert.deepEqual(
        all.slice(0, 25).map((e) => e.message),
        cam1.map((e) => e.message),
      );
      assert.deepEqual(all[0], {
        time: new Date(t0).toISOString(),
        stream: 'box-1',
        message: cam1[0]!.message,
        level: 'warn',
        fields: { camera: 'cam-1', n: 0 },
      });
      assert.ok(all.slice(25).every((e) => e.stream === 'box-2' && e.level === undefined));

      const paged = await readAll('apps', '', 7);
      assert.deepEqual(paged, all, 'small pages give the same events, none twice');
      assert.equal((await readAll('apps', 'stream=box-2')).length, 10);
      const grep = await readAll('apps', 'grep=vehicle');
      assert.equal(grep.length, 10);
      const since = new Date(t0 + 20_000).toISOString();
      const until = String(t0 + 22_000);
      const window = await readAll('apps', `stream=box-1&since=${since}&until=${until}`);
      assert.deepEqual(
        window.map((e) => e.message),
        cam1.slice(20, 23).map((e) => e.message),
      );

      const bad: [string, string][] = [
        ['stream=nope', 'LOG_STREAM_NOT_FOUND'],
        ['since=yesterday', 'LOG_QUERY_INVALID'],
        [`since=${t0 + 10}&until=${t0}`, 'LOG_QUERY_INVALID'],
        ['after=c9.1.1', 'LOG_CURSOR_INVALID'],
        ['limit=0', 'VALIDATION_FAILED'],
        ['wait=31', 'VALIDATION_FAILED'],
      ];
      for (const [q, code] of bad) {
        const r = await read('apps', q);
        assert.equal(r.body.error.code, code, q);
      }
      assert.equal((await read('nope', '')).body.error.code, 'LOG_GROUP_NOT_FOUND');
    });

    test('reads and writes are audited without the lines; each chunk has its own data key', async () => {
      const writes = await audit('logs:Write');
      assert.ok(writes.length >= 2);
      assert.ok(writes.every((e) => e.event.parameters['events'] === '[redacted]'));
      const reads = await audit('logs:Read');
      assert.ok(reads.some((e) => e.event.parameters['grep'] === '[redacted]'));
      const chunks = await s.plane.services.store.db.selectFrom('log_chunks').select(['wrapped_key', 'key_id']).execute();
      assert.equal(new Set(chunks.map((c) => c.wrapped_key)).size, chunks.length);
      const uses = await audit('key:Use');
      assert.ok(
        uses.some(
          (e) =>
            String(e.event.parameters['encryptionContext']).startsWith('log-chunk:') &&
            e.event.parameters['operation'] === 'GenerateDataKey',
        ),
      );
      const text = JSON.stringify([...writes, ...reads, ...uses]);
      for (const l of lines) assert.ok(!text.includes(l), 'a log line reached the audit trail');
    });

    test('follow: wait long-polls for new events after the cursor and never hangs past its deadline', async () => {
      const head = await read('apps', 'limit=10000');
      const cursor = head.body.nextToken;
      const t1 = performance.now();
      const empty = await read('apps', `after=${cursor}&wait=1`);
      const waited = performance.now() - t1;
      assert.equal(empty.status, 200, JSON.stringify(empty.body));
      assert.deepEqual(empty.body.events, []);
      assert.equal(empty.body.nextToken, cursor);
      assert.ok(waited >= 900 && waited < 3000, `waited ${waited} ms for a 1 s poll`);

      const t2 = performance.now();
      const follower = read('apps', `after=${cursor}&wait=20`);
      await new Promise((r) => setTimeout(r, 300));
      // A batch into another group does not answer this follower; one into this group does.
      assert.equal((await ingest('secure', 'box-1', [{ time: s.clock.now(), message: line('other group') }])).status, 201);
      await new Promise((r) => setTimeout(r, 300));
      const fresh = line('cam-1 new arrival');
      assert.equal((await ingest('apps', 'box-3', [{ time: s.clock.now(), message: fresh }])).status, 201);
      const got = await follower;
      const took = performance.now() - t2;
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.deepEqual(
        got.body.events.map((e) => e.message),
        [fresh],
      );
      assert.ok(took < 5000, `the follower answered after ${took} ms`);

      // A follower filtered on one stream: a batch into another stream does not answer it; it waits out
      // its deadline, returns nothing, and its cursor has moved past that batch.
      const filtered = read('apps', `after=${got.body.nextToken}&stream=box-1&wait=1`);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await ingest('apps', 'box-3', [{ time: s.clock.now(), message: line('not for box-1') }])).status, 201);
      const quiet = await filtered;
      assert.deepEqual(quiet.body.events, []);
      assert.notEqual(quiet.body.nextToken, got.body.nextToken);
      const rest = await read('apps', `after=${got.body.nextToken}`);
      assert.equal(rest.body.events.length, 1, 'unfiltered, the batch is there');
      // A follower that goes away stops waiting at once (the route passes the request's abort signal).
      const who = await s.plane.services.auth.authenticate(admin, '127.0.0.1');
      const gone = new AbortController();
      const t3 = performance.now();
      const stopping = s.plane.services.logs.read({ principal: who, requestId: 'abort-test', sourceIp: '127.0.0.1' }, 'default', 'apps', {
        limit: 10,
        after: quiet.body.nextToken,
        wait: 20,
        signal: gone.signal,
      });
      setTimeout(() => gone.abort(), 200);
      assert.deepEqual((await stopping).events, []);
      assert.ok(performance.now() - t3 < 2000, 'stopped waiting when the client left');
    });

    test('oversized or malformed batches: a clear code each, nothing written, no stream created', async () => {
      const now = s.clock.now();
      const chunksBefore = await chunkCount('apps');
      const streamsBefore = (await s.call('GET', `${groups}/apps/streams`, undefined, admin)).body;
      const cases: { stream?: string; events: unknown[]; status: number; code: string }[] = [
        { events: Array.from({ length: 10_001 }, () => ({ time: now, message: 'x' })), status: 413, code: 'LOG_BATCH_TOO_MANY_EVENTS' },
        {
          events: Array.from({ length: 20 }, () => ({ time: now, message: 'y'.repeat(60 * 1024) })),
          status: 413,
          code: 'LOG_BATCH_TOO_LARGE',
        },
        {
          events: [
            { time: now, message: 'ok' },
            { time: now, message: 'z'.repeat(64 * 1024 + 1) },
          ],
          status: 413,
          code: 'LOG_LINE_TOO_LONG',
        },
        { events: [], status: 400, code: 'LOG_BATCH_EMPTY' },
        { events: [{ time: now - 31 * DAY, message: line('too old') }], status: 400, code: 'LOG_EVENT_TIME_OUT_OF_RANGE' },
        { events: [{ time: now + 3 * 3600_000, message: line('from the future') }], status: 400, code: 'LOG_EVENT_TIME_OUT_OF_RANGE' },
        { events: [{ time: 'noon', message: 'x' }], status: 400, code: 'LOG_EVENT_TIME_INVALID' },
        { events: [{ time: now, message: 'x', level: 'loud' }], status: 400, code: 'LOG_EVENT_INVALID' },
        { events: [{ time: now, message: 'x', fields: { nested: { a: 1 } } }], status: 400, code: 'LOG_EVENT_INVALID' },
        {
          events: [
            { time: now, message: 'x' },
            { time: now, text: 'x' },
          ],
          status: 400,
          code: 'LOG_EVENT_INVALID',
        },
        { events: [{ time: now, message: 'x' }, 'just a string'], status: 400, code: 'LOG_EVENT_INVALID' },
        { events: [{ time: now, message: 'x', fields: { 'bad key': 1 } }], status: 400, code: 'LOG_FIELDS_INVALID' },
        { stream: '-starts-badly', events: [{ time: now, message: 'x' }], status: 400, code: 'LOG_STREAM_NAME_INVALID' },
        { stream: 'jane.doe@example.com', events: [{ time: now, message: 'x' }], status: 400, code: 'SENSITIVE_FREE_TEXT' },
      ];
      for (const c of cases) {
        const r = await ingest('apps', c.stream ?? 'rejected-stream', c.events);
        assert.equal(r.status, c.status, `${c.code}: ${JSON.stringify(r.body).slice(0, 300)}`);
        assert.equal(r.body.error.code, c.code);
        assert.ok(JSON.stringify(r.body).length < 2000, 'the batch is not echoed');
      }
      const huge = await ingest(
        'apps',
        'rejected-stream',
        Array.from({ length: 40 }, () => ({ time: now, message: 'w'.repeat(60 * 1024) })),
      );
      assert.equal(huge.status, 413);
      assert.equal(huge.body.error.code, 'BODY_TOO_LARGE');
      assert.equal((await ingest('nope', 'x', [{ time: now, message: 'x' }])).body.error.code, 'LOG_GROUP_NOT_FOUND');
      assert.equal(await chunkCount('apps'), chunksBefore);
      assert.deepEqual((await s.call('GET', `${groups}/apps/streams`, undefined, admin)).body, streamsBefore);
    });

    test('customer key: writers and readers need logs:Write/Read, not key:Use; attaching the key needs key:Use', async () => {
      const policy = {
        version: '2026-01-01',
        statements: [{ effect: 'allow', actions: ['logs:*'], resources: ['srn:sightline:default:log-group/*'] }],
      };
      assert.equal((await s.call('POST', '/api/v1/policies', { name: 'logs-only', document: policy }, admin)).status, 201);
      const user = await s.call<{ initialPassword: string }>('POST', '/api/v1/users', { name: 'logger' }, admin);
      await s.call('POST', '/api/v1/policies/logs-only/attachments', { principalType: 'user', principal: 'logger' }, admin);
      const token = (await s.call<{ token: string }>('POST', '/api/v1/auth/login', { user: 'logger', password: user.body.initialPassword }))
        .body.token;

      const attach = await s.call<Err>('POST', groups, { name: 'sneaky', kmsKey: 'logs-cmk' }, token);
      assert.equal(attach.status, 403, JSON.stringify(attach.body));
      assert.equal(attach.body.error.code, 'ACCESS_DENIED');
      const repoint = await s.call<Err>('PATCH', `${groups}/apps`, { kmsKey: 'logs-cmk' }, token);
      assert.equal(repoint.body.error.code, 'ACCESS_DENIED');
      assert.equal(
        (await s.call<GroupView>('GET', `${groups}/apps`, undefined, admin)).body.kmsKey.name,
        'sightline-logs',
        'nothing changed',
      );

      const msg = line('secure group entry');
      const w = await ingest('secure', 'box-u', [{ time: s.clock.now(), message: msg }], token);
      assert.equal(w.status, 201, JSON.stringify(w.body));
      const r = await read('secure', 'stream=box-u&limit=10', token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(
        r.body.events.map((e) => e.message),
        [msg],
      );
      const row = await s.plane.services.store.db
        .selectFrom('log_chunks')
        .innerJoin('log_groups', 'log_groups.id', 'log_chunks.group_id')
        .select(['log_chunks.key_id', 'log_groups.key_id as group_key'])
        .where('log_groups.name', '=', 'secure')
        .executeTakeFirstOrThrow();
      assert.equal(row.key_id, row.group_key);
    });

    test('a device principal can write its stream through the service (issue 5 wires the route)', async () => {
      const { store, logs } = s.plane.services;
      const caller: KeyCaller = { principal: device('dev-9'), requestId: 'device-ingest-test', sourceIp: '10.0.0.9' };
      const msg = line('device self-report');
      for (const group of ['apps', 'secure']) {
        const r = await store.transaction(() =>
          logs.ingest(caller, 'default', group, 'dev-9', [{ time: s.clock.now(), message: msg, level: 'info' }]),
        );
        assert.equal(r.count, 1);
        const back = await readAll(group, 'stream=dev-9');
        assert.deepEqual(
          back.map((e) => e.message),
          [msg],
        );
      }
      const uses = await audit('key:Use');
      assert.ok(
        uses.some((e) => e.event.principal.id === 'dev-9' && /device dev-9/.test(e.event.principal.name)),
        'the key use names the device',
      );
    });

    test('tampered chunks: flipped bit, relabelled metadata, moved stream, swapped data key: a code each, nothing from them returned', async () => {
      const msg = line('tamper target');
      assert.equal((await ingest('apps', 'box-t', [{ time: s.clock.now(), message: msg }])).status, 201);
      const db = s.plane.services.store.db;
      const group = await db.selectFrom('log_groups').selectAll().where('name', '=', 'apps').executeTakeFirstOrThrow();
      const target = await db
        .selectFrom('log_chunks')
        .selectAll()
        .where('group_id', '=', group.id)
        .orderBy('seq', 'desc')
        .executeTakeFirstOrThrow();
      const other = await db
        .selectFrom('log_chunks')
        .selectAll()
        .where('group_id', '=', group.id)
        .where('seq', '=', 1)
        .executeTakeFirstOrThrow();
      const update = (set: Record<string, unknown>) =>
        db.updateTable('log_chunks').set(set).where('group_id', '=', group.id).where('seq', '=', target.seq).execute();
      const readIt = () => read('apps', 'stream=box-t&limit=100');
      const sealed = Buffer.from(target.sealed, 'base64');
      const flipped = Buffer.from(sealed);
      flipped[30]! ^= 0x01;
      const tampers: [Record<string, unknown>, string][] = [
        [{ sealed: flipped.toString('base64') }, 'LOG_CHUNK_INTEGRITY_FAILED'],
        [{ sealed: sealed.subarray(0, sealed.length - 5).toString('base64') }, 'LOG_CHUNK_INTEGRITY_FAILED'],
        [{ first_time: Number(target.first_time) - 1 }, 'LOG_CHUNK_INTEGRITY_FAILED'],
        [{ count: 2 }, 'LOG_CHUNK_INTEGRITY_FAILED'],
        [{ wrapped_key: other.wrapped_key }, 'DATA_KEY_INVALID'],
        [{ sealed: other.sealed, wrapped_key: other.wrapped_key }, 'DATA_KEY_INVALID'],
      ];
      for (const [set, code] of tampers) {
        await update(set);
        const r = await readIt();
        assert.equal(r.status, 409, `${code}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, code);
        assert.ok(!JSON.stringify(r.body).includes(msg));
        await update({ sealed: target.sealed, wrapped_key: target.wrapped_key, first_time: target.first_time, count: target.count });
      }
      // Moved to another stream: the AAD names the stream, so it fails there too.
      const box1 = await db
        .selectFrom('log_streams')
        .select('id')
        .where('group_id', '=', group.id)
        .where('name', '=', 'box-1')
        .executeTakeFirstOrThrow();
      await update({ stream_id: box1.id });
      const moved = await read('apps', 'stream=box-1&limit=1000');
      assert.equal(moved.body.error.code, 'LOG_CHUNK_INTEGRITY_FAILED');
      await update({ stream_id: target.stream_id });
      assert.deepEqual(
        (await readIt()).body.events.map((e) => e.message),
        [msg],
        'restored, it reads again',
      );
    });

    test('disabled and destroyed keys: writes and reads fail with the KMS code, nothing half-written (crypto-shredding)', async () => {
      const before = await chunkCount('secure');
      const lastSeq = async () =>
        Number(
          (
            await s.plane.services.store.db
              .selectFrom('log_groups')
              .select('last_seq')
              .where('name', '=', 'secure')
              .executeTakeFirstOrThrow()
          ).last_seq,
        );
      const seqBefore = await lastSeq();
      await s.call('POST', '/api/v1/projects/default/keys/logs-cmk/disable', undefined, admin);
      const w = await ingest('secure', 'new-stream', [{ time: s.clock.now(), message: line('while disabled') }]);
      assert.equal(w.status, 409, JSON.stringify(w.body));
      assert.equal(w.body.error.code, 'KEY_DISABLED');
      assert.equal(await chunkCount('secure'), before);
      assert.equal(await lastSeq(), seqBefore, 'the sequence number went back with the refused batch');
      const streams = await s.call<{ streams: { name: string }[] }>('GET', `${groups}/secure/streams`, undefined, admin);
      assert.ok(!streams.body.streams.some((x) => x.name === 'new-stream'), 'the stream was not created');
      const r = await read('secure', '');
      assert.equal(r.body.error.code, 'KEY_DISABLED');
      await s.call('POST', '/api/v1/projects/default/keys/logs-cmk/enable', undefined, admin);
      assert.equal((await read('secure', '')).status, 200);

      await s.call('POST', '/api/v1/projects/default/keys/logs-cmk/schedule-deletion', { days: 7 }, admin);
      assert.equal((await read('secure', '')).body.error.code, 'KEY_PENDING_DELETION');
      s.clock.advance(7 * DAY + 1);
      await s.plane.services.kms.destroyDue();
      admin = await login();
      const gone = await read('secure', '');
      assert.equal(gone.status, 410);
      assert.equal(gone.body.error.code, 'KEY_DESTROYED');
      assert.match(gone.body.error.message, /gone for good/);
      const write = await ingest('secure', 'box-1', [{ time: s.clock.now(), message: 'x' }]);
      assert.equal(write.body.error.code, 'KEY_DESTROYED');
      // Groups under the service key are untouched.
      assert.equal((await read('apps', 'limit=5')).status, 200);
    });

    test('retention: the sweeper deletes chunks older than the group keeps, on a frozen clock', async () => {
      assert.equal((await s.call('POST', groups, { name: 'short', retentionDays: 1 }, admin)).status, 201);
      const now = s.clock.now();
      await ingest('short', 'a', [{ time: now - 20 * 3600_000, message: line('old entry') }]);
      await ingest('short', 'a', [{ time: now - 3600_000, message: line('recent entry') }]);
      const appsBefore = await chunkCount('apps');
      assert.equal(await s.plane.services.logs.expire(), 0, 'nothing is due yet');
      s.clock.advance(5 * 3600_000); // the first batch is now 25 h old, the second 6 h
      assert.equal(await s.plane.services.logs.expire(), 1);
      admin = await login();
      assert.deepEqual(
        (await readAll('short')).map((e) => e.message.replace(/ \[.*$/, '')),
        ['recent entry'],
      );
      assert.equal(await chunkCount('apps'), appsBefore, 'other groups keep theirs');
      // Retention raised: nothing more goes. Lowered later: the rest goes on the next sweep.
      s.clock.advance(DAY);
      admin = await login();
      assert.equal((await s.call('PATCH', `${groups}/short`, { retentionDays: 2 }, admin)).status, 200);
      assert.equal(await s.plane.services.logs.expire(), 0);
      s.clock.advance(DAY);
      assert.equal(await s.plane.services.logs.expire(), 1);
      assert.equal(await chunkCount('short'), 0);
      admin = await login();
      const expired = await audit('logs:Expire');
      assert.equal(expired.length, 2);
      assert.equal(expired[0]?.event.parameters['chunks'], 1);
    });

    test('the OpenAPI document describes the log and secret routes', async () => {
      const doc = await s.call<{ paths: Record<string, Record<string, { 'x-sightline-action'?: string }>> }>('GET', '/api/v1/openapi.json');
      assert.equal(doc.status, 200);
      assert.equal(
        doc.body.paths['/api/v1/projects/{project}/log-groups/{group}/streams/{stream}/events']?.['post']?.['x-sightline-action'],
        'logs:Write',
      );
      assert.equal(doc.body.paths['/api/v1/projects/{project}/log-groups/{group}/events']?.['get']?.['x-sightline-action'], 'logs:Read');
      assert.equal(doc.body.paths['/api/v1/projects/{project}/secrets/{name}/value']?.['post']?.['x-sightline-action'], 'secret:ReadValue');
    });

    test('none of the log lines is in the data folder, the database or the server log', async () => {
      assert.ok(lines.length >= 40);
      const files = filesUnder(s.dataDir);
      if (engine === 'sqlite') assert.ok(files.some((f) => f.endsWith('sightline.db')));
      const haystacks = [
        ...files.map((f) => ({ name: f, bytes: readFileSync(f) })),
        { name: 'server log', bytes: Buffer.from(logLines.join('')) },
      ];
      if (engine === 'postgres') haystacks.push({ name: 'postgres tables', bytes: Buffer.from(await allTableText(s)) });
      // Stream names are stored in the clear: finding one shows the search covers the stored data.
      assert.ok(haystacks.some((h) => h.name !== 'server log' && h.bytes.includes(Buffer.from('box-t'))));
      for (const h of haystacks) {
        assert.equal(h.bytes.includes(Buffer.from('plaintext-marker-')), false, `${h.name} holds a log line in plaintext`);
        for (const l of lines) assert.equal(h.bytes.includes(Buffer.from(l)), false, `${h.name} holds "${l}"`);
      }
    });
  });
}
