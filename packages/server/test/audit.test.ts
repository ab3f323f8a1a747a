import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { hashLeaf, parseAndVerifyCheckpoint, parseVerifierKey, verifyConsistency, verifyInclusion } from '@sightline/core';
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

async function schemaUrl(s: TestServer): Promise<string> {
  const { loadConfig } = await import('../src/config/config.js');
  return loadConfig(s.dataDir, {}).storage.url;
}
