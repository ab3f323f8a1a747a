import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { TreeBuilder, compactRange, hashLeaf, parseAndVerifyCheckpoint, parseVerifierKey, verifyConsistency, verifyInclusion } from '@sightline/core';
import { buildRoutes } from '../src/app.js';
import { AuditRepository } from '../src/audit/audit.repository.js';
import { engines, startTestServer, type TestServer } from './harness.js';

interface Ev {
  seq: number;
  event: { action: string; outcome: string; errorCode: string | null; principal: { type: string; name: string }; parameters: Record<string, unknown>; resource: string; requestId: string; sourceIp: string };
}
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

for (const engine of await engines()) {
  describe(`[${engine}] audit trail`, () => {
    let s: TestServer;
    let admin: string;
    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
    });
    after(() => s.close());

    async function events(query = ''): Promise<Ev[]> {
      const r = await s.call<{ events: Ev[] }>('GET', `/api/v1/audit/events?limit=5000${query}`, undefined, admin);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.events;
    }

    test('every call is one event: allowed, denied, failed, unauthenticated and unknown routes too', async () => {
      const before = (await events()).length;
      const created = await s.call<{ initialPassword: string }>('POST', '/api/v1/users', { name: 'ivy', roles: [{ role: 'ReadOnly', project: '*' }] }, admin);
      await s.call('POST', '/api/v1/groups', { name: 'bad', description: 'mail me at a@b.example.com' }, admin);
      await s.call('GET', '/api/v1/users');
      await s.call('GET', '/api/v1/definitely-not-a-route', undefined, admin);
      const login = await s.call<{ token: string }>('POST', '/api/v1/auth/login', { user: 'ivy', password: created.body.initialPassword });
      const enroll = await s.call<{ secret: string }>('POST', '/api/v1/auth/mfa/enroll', {}, login.body.token);
      const full = await s.call<{ token: string }>('POST', '/api/v1/auth/mfa/confirm', { code: s.code(enroll.body.secret) }, login.body.token);
      await s.call('DELETE', '/api/v1/users/admin', undefined, full.body.token);
      await s.call('GET', '/api/v1/health');

      const all = await events();
      const mine = all.slice(before + 1); // the first listing recorded its own audit:Read
      const summary = mine.map((e) => `${e.event.action} ${e.event.outcome} ${e.event.errorCode ?? ''}`.trim());
      assert.deepEqual(summary.slice(0, 8), [
        'user:Create allowed',
        'group:Create failed SENSITIVE_FREE_TEXT',
        'user:List failed AUTH_REQUIRED',
        'api:Unknown failed NOT_FOUND',
        'auth:Login allowed',
        'auth:EnrollMfa allowed',
        'auth:ConfirmMfa allowed',
        'user:Delete denied ACCESS_DENIED',
      ]);
      assert.equal(mine.length, 8, 'health checks are not audited; everything else is');
      const createUser = mine[0]!.event;
      assert.equal(createUser.principal.name, 'admin');
      assert.equal(createUser.resource, 'srn:sightline::user/ivy');
      assert.equal(createUser.sourceIp, '127.0.0.1');
      assert.match(createUser.requestId, /^[0-9a-f-]{36}$/);
      const denied = mine[7]!.event;
      assert.equal(denied.principal.name, 'ivy');
      // Unvalidated input never reaches the trail: the refused description is not there.
      assert.ok(!JSON.stringify(all).includes('a@b.example.com'));
      // Secrets are redacted.
      assert.equal(mine[4]!.event.parameters['password'], '[redacted]');
      assert.equal(mine[4]!.event.resource, 'srn:sightline::user/ivy');
      assert.ok(!JSON.stringify(all).includes(created.body.initialPassword));
    });

    test('a sign-in with an e-mail address as the user name keeps it out of the trail', async () => {
      await s.call('POST', '/api/v1/auth/login', { user: 'kim.lee@example.org', password: 'whatever it is', totp: '123456' });
      const last = (await events()).filter((e) => e.event.action === 'auth:Login').pop();
      assert.equal(last?.event.resource, 'srn:sightline::user/[invalid-name]');
      assert.ok(!JSON.stringify(await events()).includes('kim.lee'));
    });

    test('project-scoped calls name an existing project', async () => {
      const r = await s.call<{ error: { code: string; message: string } }>('GET', '/api/v1/projects/nope/keys', undefined, admin);
      assert.equal(r.status, 404);
      assert.match(r.body.error.message, /No project named "nope"/);
    });

    test('events carry the control plane clock', async () => {
      await s.call('GET', '/api/v1/users', undefined, admin);
      const last = (await events()).filter((e) => e.event.action === 'user:List').pop() as unknown as { event: { time: string } };
      assert.equal(Date.parse(last.event.time), s.clock.now());
    });

    test('filters: principal, action, outcome', async () => {
      const denied = await events('&outcome=denied');
      assert.ok(denied.length >= 1 && denied.every((e) => e.event.outcome === 'denied'));
      const byAdmin = await events('&principal=admin&action=user:Create');
      assert.ok(byAdmin.length >= 1 && byAdmin.every((e) => e.event.principal.name === 'admin' && e.event.action === 'user:Create'));
      const bad = await s.call<{ error: { code: string } }>('GET', '/api/v1/audit/events?outcome=maybe', undefined, admin);
      assert.equal(bad.body.error.code, 'VALIDATION_FAILED');
    });

    test('only Auditor and Admin may read the trail', async () => {
      const created = await s.call<{ initialPassword: string }>('POST', '/api/v1/users', { name: 'olga', roles: [{ role: 'Operator', project: '*' }] }, admin);
      const login = await s.call<{ token: string }>('POST', '/api/v1/auth/login', { user: 'olga', password: created.body.initialPassword });
      const enroll = await s.call<{ secret: string }>('POST', '/api/v1/auth/mfa/enroll', {}, login.body.token);
      const full = await s.call<{ token: string }>('POST', '/api/v1/auth/mfa/confirm', { code: s.code(enroll.body.secret) }, login.body.token);
      assert.equal((await s.call('GET', '/api/v1/audit/events', undefined, full.body.token)).status, 403);
      await s.call('POST', '/api/v1/roles/grants', { principalType: 'user', principal: 'olga', role: 'Auditor', project: '*' }, admin);
      assert.equal((await s.call('GET', '/api/v1/audit/events', undefined, full.body.token)).status, 200);
    });

    test('inclusion proofs and consistency proofs verify offline against signed checkpoints', async () => {
      const key = await s.call<{ verifierKey: string; origin: string; publicKeyPem: string }>('GET', '/api/v1/audit/public-key');
      assert.match(key.body.publicKeyPem, /BEGIN PUBLIC KEY/, JSON.stringify(key));
      const verifier = parseVerifierKey(key.body.verifierKey);
      const first = await s.call<{ size: number; note: string }>('POST', '/api/v1/audit/checkpoints', {}, admin);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const cp1 = parseAndVerifyCheckpoint(first.body.note, verifier);
      await s.call('POST', '/api/v1/groups', { name: 'more-events' }, admin);
      const second = await s.call<{ size: number; note: string }>('POST', '/api/v1/audit/checkpoints', {}, admin);
      const cp2 = parseAndVerifyCheckpoint(second.body.note, verifier);
      assert.ok(cp2.size > cp1.size);
      const cons = await s.call<{ proof: string[] }>('GET', `/api/v1/audit/consistency?from=${cp1.size}&to=${cp2.size}`, undefined, admin);
      verifyConsistency(cp1.size, cp2.size, cons.body.proof.map(b), cp1.rootHash, cp2.rootHash);

      const proof = await s.call<{ seq: number; line: string; treeSize: number; proof: string[]; checkpoint: string }>('GET', `/api/v1/audit/events/1/proof`, undefined, admin);
      assert.equal(proof.status, 200, JSON.stringify(proof.body));
      const cp = parseAndVerifyCheckpoint(proof.body.checkpoint, verifier);
      verifyInclusion(1, cp.size, hashLeaf(Buffer.from(proof.body.line)), proof.body.proof.map(b), cp.rootHash);
      // A changed event does not verify.
      assert.throws(() => verifyInclusion(1, cp.size, hashLeaf(Buffer.from(proof.body.line.replace('"v":1', '"v":2'))), proof.body.proof.map(b), cp.rootHash));
      const live = await s.call<{ events: number; checkpoints: number }>('POST', '/api/v1/audit/verify', {}, admin);
      assert.equal(live.status, 200, JSON.stringify(live.body));
      assert.ok(live.body.checkpoints >= 3);
    });

    test('the trail cannot be changed through the API', async () => {
      for (const [method, path] of [
        ['DELETE', '/api/v1/audit/events/1'],
        ['PUT', '/api/v1/audit/events/1'],
        ['PATCH', '/api/v1/audit/events/1'],
      ] as const) {
        const r = await s.call(method, path, {}, admin);
        assert.ok(r.status === 404 || r.status === 405, `${method} ${path} -> ${r.status}`);
      }
    });

    test('fail closed: when the event cannot be written the call fails and its change is not kept', async () => {
      // Make every audit insert fail inside the database.
      if (engine === 'sqlite') {
        const db = new BetterSqlite3(join(s.dataDir, 'sightline.db'));
        db.exec("CREATE TRIGGER audit_full BEFORE INSERT ON audit_events BEGIN SELECT RAISE(FAIL, 'disk full'); END;");
        db.close();
      } else {
        const u = new URL(await schemaUrl(s));
        const client = new pg.Client({ connectionString: u.toString() });
        await client.connect();
        await client.query("CREATE FUNCTION audit_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$");
        await client.query('CREATE TRIGGER audit_full BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_full()');
        await client.end();
      }
      const r = await s.call<{ error: { code: string } }>('POST', '/api/v1/groups', { name: 'unaudited' }, admin);
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'AUDIT_UNAVAILABLE');
      const reads = await s.call<{ error: { code: string } }>('GET', '/api/v1/groups', undefined, admin);
      assert.equal(reads.status, 503, 'reads are refused too when they cannot be audited');
      // Lift the fault and look: the group was never created.
      if (engine === 'sqlite') {
        const db = new BetterSqlite3(join(s.dataDir, 'sightline.db'));
        db.exec('DROP TRIGGER audit_full');
        db.close();
      } else {
        const client = new pg.Client({ connectionString: await schemaUrl(s) });
        await client.connect();
        await client.query('DROP TRIGGER audit_full ON audit_events');
        await client.end();
      }
      const groups = await s.call<{ groups: { name: string }[] }>('GET', '/api/v1/groups', undefined, admin);
      assert.ok(!groups.body.groups.some((g) => g.name === 'unaudited'));
      const live = await s.call<{ events: number }>('POST', '/api/v1/audit/verify', {}, admin);
      assert.equal(live.status, 200);
    });
  });
}

/** Runs one SQL statement on the test server's database from outside the server (a tamperer with database access). */
async function tamper(s: TestServer, engine: string, statement: string): Promise<void> {
  if (engine === 'sqlite') {
    const db = new BetterSqlite3(join(s.dataDir, 'sightline.db'));
    db.exec(statement);
    db.close();
  } else {
    const client = new pg.Client({ connectionString: await schemaUrl(s) });
    await client.connect();
    await client.query(statement);
    await client.end();
  }
}

interface Base {
  size: number;
  compactRange: string[];
  checkpoint: string | null;
}

for (const engine of await engines()) {
  describe(`[${engine}] audit retention`, () => {
    let s: TestServer;
    let admin: string;
    before(async () => {
      s = await startTestServer({ engine, config: { 'audit.retentionDays': 1 } });
      admin = await s.adminToken();
    });
    after(() => s.close());

    const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown, status = 200): Promise<T> => {
      const r = await s.call<T>(method, path, body, admin);
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const checkpoint = (): Promise<{ size: number; note: string }> => call('POST', '/api/v1/audit/checkpoints', {});
    const prune = (): Promise<{ pruned: boolean; dropped: number; reason?: string; base: Base }> => call('POST', '/api/v1/audit/prune', {});
    const seqs = async (): Promise<number[]> =>
      (await call<{ events: Ev[] }>('GET', '/api/v1/audit/events?limit=5000')).events.map((e) => e.seq);

    test('prune after export drops exactly the exported old period; the rest stays verifiable', async () => {
      for (let i = 0; i < 9; i++) await s.call('GET', '/api/v1/users', undefined, admin);
      const exported = await checkpoint();
      // An export receipt must name a checkpoint this log signed.
      const forged = exported.note.replace(/\n\d+\n/, '\n1\n');
      const bad = await s.call<{ error: { code: string } }>('POST', '/api/v1/audit/exports', { from: 0, size: 1, checkpoint: forged }, admin);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'AUDIT_EXPORT_INVALID');
      const receipt = await call<{ size: number; from: number }>('POST', '/api/v1/audit/exports', { from: 0, size: exported.size, checkpoint: exported.note }, 201);
      assert.equal(receipt.size, exported.size);
      // Exported, but younger than the retention: kept.
      const young = await prune();
      assert.equal(young.pruned, false);
      assert.match(young.reason ?? '', /younger than 1 days/);
      // A later period, soon older than the retention too, but never exported.
      for (let i = 0; i < 5; i++) await s.call('GET', '/api/v1/groups', undefined, admin);
      const unexported = await checkpoint();
      // Days pass (sessions expire meanwhile: sign in again).
      s.clock.advance(3 * 86_400_000);
      admin = await s.adminToken(true);
      const cut = exported.size;
      const first = await prune();
      assert.equal(first.pruned, true, first.reason);
      assert.equal(first.dropped, cut);
      assert.equal(first.base.size, cut);
      const kept = await seqs();
      assert.equal(kept[0], cut, 'the first kept event is the one at the cut');
      kept.forEach((seq, i) => assert.equal(seq, cut + i, 'the kept events have no gap'));
      assert.ok(kept.length > unexported.size - cut, 'the unexported period is all there');
      // Again: the unexported period is older than the retention, but stays.
      const again = await prune();
      assert.equal(again.pruned, false);
      assert.match(again.reason ?? '', new RegExp(`No export covers events after ${cut}`));
      assert.equal((await seqs())[0], cut);

      // The base: the cut checkpoint is signed and its compact range reproduces its root.
      const key = await call<{ verifierKey: string }>('GET', '/api/v1/audit/public-key');
      const verifier = parseVerifierKey(key.verifierKey);
      const base = await call<Base>('GET', '/api/v1/audit/base');
      const cp = parseAndVerifyCheckpoint(base.checkpoint ?? '', verifier);
      assert.equal(cp.size, cut);
      assert.equal(Buffer.from(TreeBuilder.fromCompactRange(cut, base.compactRange.map(b)).root()).toString('base64'), Buffer.from(cp.rootHash).toString('base64'));
      // The cut is an event of its own, after the cut.
      // (Every POST /audit/prune call is audited under that action too; the record of the cut carries it.)
      const cuts = (await call<{ events: Ev[] }>('GET', '/api/v1/audit/events?action=audit:Prune')).events.filter((e) => e.event.parameters['cut'] !== undefined);
      assert.equal(cuts.length, 1);
      assert.equal(cuts[0]?.event.parameters['cut'], cut);
      assert.ok((cuts[0]?.seq ?? 0) >= cut);

      // Live verify starts from the base; proofs for kept events and from the cut still verify.
      const live = await call<{ events: number; baseSize: number; treeSize: number }>('POST', '/api/v1/audit/verify', {});
      assert.equal(live.baseSize, cut);
      assert.equal(live.treeSize, live.baseSize + live.events);
      const head = parseAndVerifyCheckpoint((await checkpoint()).note, verifier);
      const proof = await call<{ line: string; treeSize: number; proof: string[]; checkpoint: string }>('GET', `/api/v1/audit/events/${cut + 1}/proof`);
      const anchor = parseAndVerifyCheckpoint(proof.checkpoint, verifier);
      verifyInclusion(cut + 1, anchor.size, hashLeaf(Buffer.from(proof.line)), proof.proof.map(b), anchor.rootHash);
      const cons = await call<{ proof: string[] }>('GET', `/api/v1/audit/consistency?from=${cut}&to=${head.size}`);
      verifyConsistency(cut, head.size, cons.proof.map(b), cp.rootHash, head.rootHash);
      const gone = await s.call<{ error: { code: string; message: string } }>('GET', '/api/v1/audit/events/1/proof', undefined, admin);
      assert.equal(gone.status, 404);
      assert.match(gone.body.error.message, /Event 1 was dropped by retention: the log keeps events from \d+ on/);
      const early = await s.call<{ error: { code: string } }>('GET', `/api/v1/audit/consistency?from=1&to=${head.size}`, undefined, admin);
      assert.equal(early.body.error.code, 'AUDIT_RANGE_INVALID');

      // The second period is exported later (from the cut on), and the hourly job, run here
      // directly, drops it in turn: the cut moves to that export's checkpoint.
      await call('POST', '/api/v1/audit/exports', { from: cut, size: unexported.size, checkpoint: unexported.note }, 201);
      s.clock.advance(2 * 86_400_000);
      admin = await s.adminToken(true);
      const job = await s.plane.services.audit.prune();
      assert.deepEqual([job.pruned, job.dropped, job.base.size], [true, unexported.size - cut, unexported.size]);
      const jobEvent = (await call<{ events: Ev[] }>('GET', '/api/v1/audit/events?action=audit:Prune')).events.at(-1);
      assert.equal(jobEvent?.event.principal.name, 'sightline-retention');
      assert.equal(jobEvent?.event.parameters['cut'], unexported.size);
      assert.equal((await seqs())[0], unexported.size);
      assert.equal((await call<{ baseSize: number }>('POST', '/api/v1/audit/verify', {})).baseSize, unexported.size);
    });

    test('the live verifier names a forged compact range, a replaced cut checkpoint, a dropped kept event and a faked cut', async () => {
      const base = await call<Base & { size: number }>('GET', '/api/v1/audit/base');
      assert.ok(base.size > 0, 'runs after the prune test');
      const verify = async (): Promise<{ code: string; message: string }> => {
        const r = await s.call<{ error: { code: string; message: string } }>('POST', '/api/v1/audit/verify', {}, admin);
        assert.notEqual(r.status, 200, 'the tampering must be found');
        return r.body.error;
      };
      const range = JSON.stringify(base.compactRange);
      const forged = JSON.stringify(base.compactRange.map((h, i) => (i === 0 ? Buffer.alloc(32, 1).toString('base64') : h)));
      await tamper(s, engine, `UPDATE audit_base SET compact_range = '${forged}'`);
      const e1 = await verify();
      assert.equal(e1.code, 'AUDIT_BASE_MISMATCH');
      assert.match(e1.message, /compact range of the dropped events 0 to \d+ does not reproduce/);
      await tamper(s, engine, `UPDATE audit_base SET compact_range = '${range}'`);
      // The cut checkpoint replaced by the next one's note.
      await tamper(s, engine, `UPDATE audit_checkpoints SET note = (SELECT note FROM audit_checkpoints WHERE size > ${base.size} ORDER BY size LIMIT 1) WHERE size = ${base.size}`);
      const e2 = await verify();
      assert.equal(e2.code, 'AUDIT_BASE_INVALID');
      assert.match(e2.message, new RegExp(`first checkpoint must be the signed one at the cut \\(size ${base.size}\\)`));
      await tamper(s, engine, `UPDATE audit_checkpoints SET note = '${(base.checkpoint ?? '').replace(/'/g, "''")}' WHERE size = ${base.size}`);
      assert.equal((await s.call('POST', '/api/v1/audit/verify', {}, admin)).status, 200, 'restored');
      // A kept event dropped.
      await tamper(s, engine, `DELETE FROM audit_events WHERE seq = ${base.size + 2}`);
      const e4 = await verify();
      assert.equal(e4.code, 'AUDIT_EVENT_MISMATCH');
      assert.match(e4.message, new RegExp(`^Events ${base.size} to \\d+ do not reproduce the root of checkpoint #1`));
      // A tamperer with database access hides that by faking a cut at a later checkpoint, with a
      // compact range that does reproduce it: only the missing record of that cut gives it away.
      const repo = new AuditRepository(s.plane.services.store);
      const later = await repo.lastCheckpointIn(base.size + 2, Number.MAX_SAFE_INTEGER);
      assert.ok(later !== undefined);
      const nodes = (await repo.getNodes(compactRange(later.size))) as Uint8Array[];
      assert.ok(await repo.moveBase(later.size, nodes, later.note, s.clock.now()));
      await repo.dropBefore(later.size);
      const e5 = await verify();
      assert.equal(e5.code, 'AUDIT_BASE_UNRECORDED');
      assert.match(e5.message, new RegExp(`starts at event ${later.size}, but no kept event records a retention cut there`));
    });

    test('there is no API route that changes or deletes audit events', () => {
      const audit = buildRoutes(s.plane.services).filter((r) => r.path.startsWith('/api/v1/audit'));
      const writes = audit.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`).sort();
      // Signing a checkpoint, verifying, an export receipt and the retention job: none edits an event.
      assert.deepEqual(writes, ['POST /api/v1/audit/checkpoints', 'POST /api/v1/audit/exports', 'POST /api/v1/audit/prune', 'POST /api/v1/audit/verify']);
      assert.ok(!buildRoutes(s.plane.services).some((r) => r.method !== 'GET' && r.method !== 'POST' && /audit/.test(r.path)));
    });
  });
}

async function schemaUrl(s: TestServer): Promise<string> {
  const { loadConfig } = await import('../src/config/config.js');
  return loadConfig(s.dataDir, {}).storage.url;
}
