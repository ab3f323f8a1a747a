import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Principal } from '../src/http/router.js';
import type { KeyCaller } from '../src/kms/kms.service.js';
import { createLogger } from '../src/logging/logger.js';
import type { SecretBindingLookup } from '../src/secrets/secret-access.js';
import { SecretError } from '../src/secrets/secret-errors.js';
import { SecretRepository } from '../src/secrets/secret.repository.js';
import { SecretService } from '../src/secrets/secret.service.js';
import { allTableText, engines, filesUnder, startTestServer, type TestServer } from './harness.js';

interface Err {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
interface SecretView {
  name: string;
  version: number;
  description: string;
  kmsKey: { id: string; name: string | null; managedBy: string | null };
  createdBy: string;
  rotatedAt: string | null;
}
interface AuditList {
  events: {
    seq: number;
    event: {
      action: string;
      outcome: string;
      errorCode: string | null;
      principal: { type: string; id: string; name: string };
      parameters: Record<string, unknown>;
    };
  }[];
}

const DAY = 86_400_000;
const base = '/api/v1/projects/default/secrets';

// Plaintext used below; none of it may reach the data folder, the database, the audit trail or the logs.
const CAM_PASSWORD = 'tangerine-Osprey-4417-wharf';
const CAM_USER = 'svc-cam-user-8812';
const ROTATED_PASSWORD = 'juniper-Kestrel-0093-quay';
const CMK_VALUE = 'marigold-Heron-5521-pier';
const DEVICE_VALUE = 'cobalt-Plover-7730-dock';
const NEEDLES = [CAM_PASSWORD, CAM_USER, ROTATED_PASSWORD, CMK_VALUE, DEVICE_VALUE];


/** Every row of every table, as text (PostgreSQL keeps its files elsewhere, so the tables are asked instead). */

/** `marker` is stored in the clear (a name): finding it shows the search looks where the data is. */
async function assertNoPlaintext(s: TestServer, engine: string, logLines: string[], needles: string[], marker: string): Promise<void> {
  const files = filesUnder(s.dataDir);
  if (engine === 'sqlite')
    assert.ok(
      files.some((f) => f.endsWith('sightline.db')),
      'the database file is in the data folder',
    );
  const haystacks = [
    ...files.map((f) => ({ name: f, bytes: readFileSync(f) })),
    { name: 'server log', bytes: Buffer.from(logLines.join('')) },
  ];
  if (engine === 'postgres') haystacks.push({ name: 'postgres tables', bytes: Buffer.from(await allTableText(s)) });
  assert.ok(
    haystacks.some((h) => h.name !== 'server log' && h.bytes.includes(Buffer.from(marker))),
    'the stored names were found, so the search covers the stored data',
  );
  for (const h of haystacks) {
    for (const needle of needles) {
      assert.equal(h.bytes.includes(Buffer.from(needle)), false, `${h.name} contains "${needle}" in plaintext`);
    }
  }
}

const device = (id: string): Principal => ({ type: 'device', id, name: id, userId: '', mfaPresent: false, enrollmentOnly: false });

for (const engine of await engines()) {
  describe(`[${engine}] secrets store`, () => {
    let s: TestServer;
    let admin: string;
    const logLines: string[] = [];

    // A fresh admin sign-in (the harness steps the frozen clock for its TOTP code).
    const login = (): Promise<string> => s.adminToken(true);
    const audit = async (action: string): Promise<AuditList['events']> =>
      (await s.call<AuditList>('GET', `/api/v1/audit/events?action=${encodeURIComponent(action)}&limit=1000`, undefined, admin)).body
        .events;
    const row = (name: string) =>
      s.plane.services.store.db
        .selectFrom('secrets')
        .selectAll()
        .where('project', '=', 'default')
        .where('name', '=', name)
        .executeTakeFirstOrThrow();

    before(async () => {
      // Without required MFA a password-only session exists, so the MFA rule for values can be shown.
      s = await startTestServer({ engine, config: { 'auth.requireMfa': false }, logger: createLogger('debug', (l) => logLines.push(l)) });
      admin = await s.adminToken();
    });
    after(() => s.close());

    test('create, list, describe, read, rotate, delete: metadata never carries the value', async () => {
      const created = await s.call<SecretView>(
        'POST',
        base,
        { name: 'cam-1', description: 'Loading bay camera', value: { username: CAM_USER, password: CAM_PASSWORD } },
        admin,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.version, 1);
      assert.equal(created.body.kmsKey.name, 'sightline-secrets');
      assert.equal(created.body.kmsKey.managedBy, 'service');
      assert.equal(created.body.createdBy, `user:${s.init.admin.name}`);
      const list = await s.call<{ secrets: SecretView[] }>('GET', base, undefined, admin);
      const described = await s.call<SecretView>('GET', `${base}/cam-1`, undefined, admin);
      for (const body of [created.body, list.body, described.body]) {
        for (const n of NEEDLES) assert.ok(!JSON.stringify(body).includes(n), 'metadata carries the value');
      }
      assert.deepEqual(
        list.body.secrets.map((x) => x.name),
        ['cam-1'],
      );

      const read = await s.call<{ value: unknown; version: number }>('POST', `${base}/cam-1/value`, undefined, admin);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.deepEqual(read.body, { name: 'cam-1', version: 1, value: { username: CAM_USER, password: CAM_PASSWORD } });

      const rotated = await s.call<SecretView>(
        'POST',
        `${base}/cam-1/rotate`,
        { value: { username: CAM_USER, password: ROTATED_PASSWORD } },
        admin,
      );
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.equal(rotated.body.version, 2);
      assert.notEqual(rotated.body.rotatedAt, null);
      const after2 = await s.call<{ value: { password: string }; version: number }>('POST', `${base}/cam-1/value`, undefined, admin);
      assert.equal(after2.body.version, 2);
      assert.equal(after2.body.value.password, ROTATED_PASSWORD);

      const plain = await s.call<SecretView>('POST', base, { name: 'tmp', value: 'short-lived' }, admin);
      assert.equal(plain.status, 201);
      assert.equal((await s.call<{ value: string }>('POST', `${base}/tmp/value`, undefined, admin)).body.value, 'short-lived');
      assert.equal((await s.call('DELETE', `${base}/tmp`, undefined, admin)).status, 200);
      const gone = await s.call<Err>('POST', `${base}/tmp/value`, undefined, admin);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error.code, 'SECRET_NOT_FOUND');
    });

    test('every read is audited, allowed or not, and no audit event carries a value', async () => {
      const reads = await audit('secret:ReadValue');
      assert.ok(reads.filter((e) => e.event.outcome === 'allowed').length >= 3, 'allowed reads are in the trail');
      assert.ok(
        reads.some((e) => e.event.errorCode === 'SECRET_NOT_FOUND'),
        'failed reads are in the trail',
      );
      const creates = await audit('secret:Create');
      assert.ok(creates.length >= 2);
      for (const e of creates) assert.equal(e.event.parameters['value'], '[redacted]');
      const rotates = await audit('secret:Rotate');
      assert.equal(rotates[0]?.event.parameters['value'], '[redacted]');
      const uses = await audit('key:Use');
      assert.ok(
        uses.some(
          (e) => e.event.parameters['operation'] === 'Decrypt' && String(e.event.parameters['encryptionContext']).startsWith('secret:'),
        ),
      );
      const all = JSON.stringify([...reads, ...creates, ...rotates, ...uses]);
      for (const n of NEEDLES) assert.ok(!all.includes(n), `the audit trail carries "${n}"`);
    });

    test('values go only to people signed in with MFA: not to password-only sessions, not to API keys', async () => {
      const created = await s.call<{ initialPassword: string }>(
        'POST',
        '/api/v1/users',
        { name: 'nomfa', roles: [{ role: 'Admin', project: 'default' }] },
        admin,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const session = await s.call<{ token: string; mfaPresent: boolean }>('POST', '/api/v1/auth/login', {
        user: 'nomfa',
        password: created.body.initialPassword,
      });
      assert.equal(session.status, 200, JSON.stringify(session.body));
      assert.equal(session.body.mfaPresent, false);
      const noMfa = await s.call<Err>('POST', `${base}/cam-1/value`, undefined, session.body.token);
      assert.equal(noMfa.status, 403);
      assert.equal(noMfa.body.error.code, 'MFA_REQUIRED_FOR_SECRET');
      assert.match(noMfa.body.error.message, /MFA/);
      // The same session may still see metadata.
      assert.equal((await s.call('GET', `${base}/cam-1`, undefined, session.body.token)).status, 200);

      const key = await s.call<{ token: string }>('POST', '/api/v1/apikeys', { name: 'bot', expiresInDays: 3 }, admin);
      assert.equal(key.status, 201, JSON.stringify(key.body));
      const byKey = await s.call<Err>('POST', `${base}/cam-1/value`, undefined, key.body.token);
      assert.equal(byKey.status, 403);
      assert.equal(byKey.body.error.code, 'MFA_REQUIRED_FOR_SECRET');
      assert.match(byKey.body.error.message, /API keys/);

      // Policy comes first: a reader without secret:ReadValue is denied before the MFA rule is reached.
      const viewer = await s.call<{ initialPassword: string }>(
        'POST',
        '/api/v1/users',
        { name: 'viewer', roles: [{ role: 'ReadOnly', project: 'default' }] },
        admin,
      );
      const viewerSession = await s.call<{ token: string }>('POST', '/api/v1/auth/login', {
        user: 'viewer',
        password: viewer.body.initialPassword,
      });
      const denied = await s.call<Err>('POST', `${base}/cam-1/value`, undefined, viewerSession.body.token);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'ACCESS_DENIED');
      const reads = await audit('secret:ReadValue');
      const refused = reads.filter((e) => e.event.errorCode === 'MFA_REQUIRED_FOR_SECRET');
      assert.deepEqual(refused.map((e) => e.event.principal.type).sort(), ['apikey', 'user']);
      assert.ok(refused.every((e) => e.event.outcome === 'failed'));
      assert.ok(reads.some((e) => e.event.outcome === 'denied' && e.event.principal.name === 'viewer'));
    });

    test('bad input is refused with a code, the value never echoed, and nothing is written', async () => {
      const before = await s.call<{ secrets: SecretView[] }>('GET', base, undefined, admin);
      const cases: { body: unknown; status: number; code: string }[] = [
        { body: { name: 'big', value: 'v'.repeat(64 * 1024) }, status: 413, code: 'SECRET_VALUE_TOO_LARGE' },
        { body: { name: 'ops@example.com', value: CAM_PASSWORD }, status: 400, code: 'SENSITIVE_FREE_TEXT' },
        {
          body: { name: 'c2', description: 'login password=hunter2hunter2', value: CAM_PASSWORD },
          status: 400,
          code: 'SENSITIVE_FREE_TEXT',
        },
        { body: { name: 'c2', value: '' }, status: 400, code: 'VALIDATION_FAILED' },
        { body: { name: 'c2', value: { nested: { password: CAM_PASSWORD } } }, status: 400, code: 'VALIDATION_FAILED' },
        { body: { name: 'c2', value: CAM_PASSWORD, extra: 1 }, status: 400, code: 'VALIDATION_FAILED' },
        { body: { name: 'cam-1', value: CAM_PASSWORD }, status: 409, code: 'ALREADY_EXISTS' },
        { body: { name: 'c2', value: CAM_PASSWORD, kmsKey: 'no-such-key' }, status: 404, code: 'KEY_NOT_FOUND' },
        { body: { name: 'c2', value: CAM_PASSWORD, kmsKey: 'sightline-secrets' }, status: 400, code: 'SECRET_KEY_INVALID' },
      ];
      for (const c of cases) {
        const r = await s.call<Err>('POST', base, c.body, admin);
        assert.equal(r.status, c.status, JSON.stringify(r.body));
        assert.equal(r.body.error.code, c.code);
        assert.ok(!JSON.stringify(r.body).includes(CAM_PASSWORD), 'value echoed');
      }
      const noProject = await s.call<Err>('POST', '/api/v1/projects/nowhere/secrets', { name: 'c2', value: 'x' }, admin);
      // The pipeline refuses an unknown project before the route (NOT_FOUND); the service checks too, for direct callers.
      assert.equal(noProject.status, 404);
      assert.ok(['NOT_FOUND', 'PROJECT_NOT_FOUND'].includes(noProject.body.error.code), noProject.body.error.code);
      const bigRotate = await s.call<Err>('POST', `${base}/cam-1/rotate`, { value: 'v'.repeat(70 * 1024) }, admin);
      assert.equal(bigRotate.body.error.code, 'SECRET_VALUE_TOO_LARGE');
      assert.deepEqual((await s.call('GET', base, undefined, admin)).body, before.body, 'nothing was written');
      assert.equal((await row('cam-1')).version, 2, 'the refused rotation left the secret alone');
    });

    test('a customer key: disabled, pending deletion, destroyed: reads fail with the KMS code and nothing is decrypted', async () => {
      const key = await s.call<{ id: string }>('POST', '/api/v1/projects/default/keys', { name: 'cam-cmk' }, admin);
      assert.equal(key.status, 201, JSON.stringify(key.body));
      const created = await s.call<SecretView>('POST', base, { name: 'cam-2', value: CMK_VALUE, kmsKey: 'cam-cmk' }, admin);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.kmsKey, { id: key.body.id, name: 'cam-cmk', managedBy: 'customer' });
      assert.equal((await row('cam-2')).key_id, key.body.id);
      assert.equal((await s.call<{ value: string }>('POST', `${base}/cam-2/value`, undefined, admin)).body.value, CMK_VALUE);

      await s.call('POST', '/api/v1/projects/default/keys/cam-cmk/disable', undefined, admin);
      const disabled = await s.call<Err>('POST', `${base}/cam-2/value`, undefined, admin);
      assert.equal(disabled.status, 409);
      assert.equal(disabled.body.error.code, 'KEY_DISABLED');
      const rotateDisabled = await s.call<Err>('POST', `${base}/cam-2/rotate`, { value: 'next-value' }, admin);
      assert.equal(rotateDisabled.body.error.code, 'KEY_DISABLED');
      assert.equal((await row('cam-2')).version, 1, 'nothing half-written');
      await s.call('POST', '/api/v1/projects/default/keys/cam-cmk/enable', undefined, admin);
      assert.equal((await s.call<{ value: string }>('POST', `${base}/cam-2/value`, undefined, admin)).body.value, CMK_VALUE);

      assert.equal((await s.call('POST', '/api/v1/projects/default/keys/cam-cmk/schedule-deletion', { days: 7 }, admin)).status, 200);
      const pending = await s.call<Err>('POST', `${base}/cam-2/value`, undefined, admin);
      assert.equal(pending.body.error.code, 'KEY_PENDING_DELETION');

      const decryptsBefore = (await audit('key:Use')).filter((e) => e.event.parameters['operation'] === 'Decrypt').length;
      s.clock.advance(8 * DAY);
      assert.equal(await s.plane.services.kms.destroyDue(), 1);
      admin = await login(); // the old session expired with the clock
      const destroyed = await s.call<Err>('POST', `${base}/cam-2/value`, undefined, admin);
      assert.equal(destroyed.status, 410);
      assert.equal(destroyed.body.error.code, 'KEY_DESTROYED');
      assert.match(destroyed.body.error.message, /gone for good|crypto-shredded/);
      for (const r of [disabled, pending, destroyed]) assert.ok(!JSON.stringify(r.body).includes(CMK_VALUE));
      const decryptsAfter = (await audit('key:Use')).filter((e) => e.event.parameters['operation'] === 'Decrypt').length;
      assert.equal(decryptsAfter, decryptsBefore, 'no data key was unwrapped');
      // The secret service key is untouched: other secrets still read.
      assert.equal(
        (await s.call<{ value: { password: string } }>('POST', `${base}/cam-1/value`, undefined, admin)).body.value.password,
        ROTATED_PASSWORD,
      );
    });

    test('tampered rows: a flipped bit, a wrapped key from another secret, a relabelled version: each a code, nothing released', async () => {
      await s.call('POST', base, { name: 'cam-3', value: CAM_PASSWORD }, admin);
      const original = await row('cam-3');
      const other = await row('cam-1');
      const update = (set: Record<string, unknown>) =>
        s.plane.services.store.db.updateTable('secrets').set(set).where('id', '=', original.id).execute();
      const read = () => s.call<Err>('POST', `${base}/cam-3/value`, undefined, admin);

      const sealed = Buffer.from(original.sealed_value, 'base64');
      for (const at of [1, 20, sealed.length - 1]) {
        const flipped = Buffer.from(sealed);
        flipped[at]! ^= 0x04;
        await update({ sealed_value: flipped.toString('base64') });
        const r = await read();
        assert.equal(r.status, 409, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 'SECRET_INTEGRITY_FAILED');
        assert.ok(!JSON.stringify(r.body).includes(CAM_PASSWORD));
      }
      // Another secret's sealed value and data key, moved into this row: bound to the other id, so refused.
      await update({ sealed_value: other.sealed_value, wrapped_key: other.wrapped_key, version: other.version });
      assert.equal((await read()).body.error.code, 'DATA_KEY_INVALID');
      await update({ sealed_value: original.sealed_value, wrapped_key: other.wrapped_key, version: original.version });
      assert.equal((await read()).body.error.code, 'DATA_KEY_INVALID');
      await update({ sealed_value: original.sealed_value, wrapped_key: original.wrapped_key, version: 7 });
      assert.equal((await read()).body.error.code, 'DATA_KEY_INVALID');
      await update({ wrapped_key: Buffer.from('not a key').toString('base64'), version: original.version });
      assert.equal((await read()).body.error.code, 'DATA_KEY_INVALID');
      await update({ sealed_value: original.sealed_value, wrapped_key: original.wrapped_key, version: original.version });
      assert.equal(
        (await s.call<{ value: string }>('POST', `${base}/cam-3/value`, undefined, admin)).body.value,
        CAM_PASSWORD,
        'restored, it reads again',
      );
    });

    test('devices read only secrets bound to a camera an app on them uses (fake binding lookup)', async () => {
      await s.call('POST', '/api/v1/projects', { name: 'other' }, admin);
      assert.equal(
        (await s.call('POST', base, { name: 'dock-cam', value: { username: 'viewer', password: DEVICE_VALUE } }, admin)).status,
        201,
      );
      assert.equal((await s.call('POST', '/api/v1/projects/other/secrets', { name: 'dock-cam', value: 'elsewhere' }, admin)).status, 201);
      const asked: string[] = [];
      const bindings: SecretBindingLookup = {
        deviceMayRead: (deviceId, project, name) => {
          asked.push(`${deviceId}/${project}/${name}`);
          return Promise.resolve(deviceId === 'dev-1' && project === 'default' && name === 'dock-cam');
        },
      };
      const { store, kms, projects, clock } = s.plane.services;
      const secrets = new SecretService(new SecretRepository(store), kms, projects, clock, bindings);
      const as = (principal: Principal): KeyCaller => ({ principal, requestId: 'device-read-test', sourceIp: '10.0.0.7' });
      const code = (c: string) => (e: unknown) => e instanceof SecretError && e.code === c;

      const got = await secrets.readForDevice(as(device('dev-1')), { project: 'default', name: 'dock-cam' });
      assert.deepEqual(got.value, { username: 'viewer', password: DEVICE_VALUE });
      await assert.rejects(
        secrets.readForDevice(as(device('dev-2')), { project: 'default', name: 'dock-cam' }),
        code('SECRET_NOT_BOUND_TO_DEVICE'),
      );
      await assert.rejects(
        secrets.readForDevice(as(device('dev-1')), { project: 'other', name: 'dock-cam' }),
        code('SECRET_NOT_BOUND_TO_DEVICE'),
      );
      await assert.rejects(
        secrets.readForDevice(as(device('dev-1')), { project: 'default', name: 'cam-1' }),
        code('SECRET_NOT_BOUND_TO_DEVICE'),
      );
      // An unbound device cannot probe which secrets exist: same answer for a missing one.
      await assert.rejects(
        secrets.readForDevice(as(device('dev-2')), { project: 'default', name: 'no-such' }),
        code('SECRET_NOT_BOUND_TO_DEVICE'),
      );
      // A person is refused on the device path even if the lookup would say yes; the lookup is not even asked.
      const person = await s.plane.services.auth.authenticate(admin, '127.0.0.1');
      const askedBefore = asked.length;
      await assert.rejects(secrets.readForDevice(as(person), { project: 'default', name: 'dock-cam' }), code('WRONG_API'));
      assert.equal(asked.length, askedBefore);
      // And a device is refused on the people's path.
      await assert.rejects(secrets.readValue(as(device('dev-1')), 'default', 'dock-cam'), code('WRONG_API'));
      // The control plane as wired today has no bindings: every device read is refused.
      await assert.rejects(
        s.plane.services.secrets.readForDevice(as(device('dev-1')), { project: 'default', name: 'dock-cam' }),
        code('SECRET_NOT_BOUND_TO_DEVICE'),
      );

      // The device's read used the key and is in the audit trail under the device's name.
      const uses = await audit('key:Use');
      assert.ok(
        uses.some(
          (e) => e.event.principal.type === 'device' && e.event.principal.id === 'dev-1' && e.event.parameters['operation'] === 'Decrypt',
        ),
      );
    });

    test('none of the plaintext values is in the data folder, the database or the server log', async () => {
      await assertNoPlaintext(s, engine, logLines, NEEDLES, 'dock-cam');
      assert.ok(logLines.length > 0, 'the logger saw the requests');
    });
  });
}
