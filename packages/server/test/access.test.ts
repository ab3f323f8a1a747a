import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildRoutes } from '../src/app.js';
import { isActionName, isWriteAction } from '../src/policy/index.js';
import { engines, startTestServer, type TestServer } from './harness.js';
import { signIn } from './users.js';

interface Err {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** A valid body for every write route, so the check reaches authorization. */
const SAMPLE_BODIES: Record<string, unknown> = {
  'POST /api/v1/audit/prune': undefined,
  'POST /api/v1/users': { name: 'newbie' },
  'PATCH /api/v1/users/:name': { disabled: true },
  'DELETE /api/v1/users/:name': undefined,
  'POST /api/v1/users/:name/reset-mfa': undefined,
  'POST /api/v1/users/:name/reset-password': {},
  'POST /api/v1/groups': { name: 'g1' },
  'DELETE /api/v1/groups/:name': undefined,
  'POST /api/v1/groups/:name/members': { user: 'admin' },
  'DELETE /api/v1/groups/:name/members/:user': undefined,
  'POST /api/v1/apikeys': { name: 'k1' },
  'DELETE /api/v1/apikeys/:id': undefined,
  'POST /api/v1/policies': { name: 'p1', document: { version: '2026-01-01', statements: [] } },
  'PUT /api/v1/policies/:name': { document: { version: '2026-01-01', statements: [] } },
  'DELETE /api/v1/policies/:name': undefined,
  'POST /api/v1/policies/:name/attachments': { principalType: 'user', principal: 'admin' },
  'DELETE /api/v1/policies/:name/attachments/:type/:principal': undefined,
  'POST /api/v1/roles/grants': { principalType: 'user', principal: 'admin', role: 'Admin', project: '*' },
  'POST /api/v1/roles/revocations': { principalType: 'user', principal: 'admin', role: 'Admin', project: '*' },
  'POST /api/v1/projects': { name: 'p2' },
  'DELETE /api/v1/projects/:name': undefined,
  'PUT /api/v1/projects/:name/settings': { outputPreview: true },
  'POST /api/v1/projects/:project/devices': { name: 'd1' },
  'PATCH /api/v1/projects/:project/devices/:name': { tags: { site: 'north' } },
  'POST /api/v1/projects/:project/devices/:name/deregister': undefined,
  'POST /api/v1/projects/:project/devices/:name/reboot': undefined,
  'POST /api/v1/projects/:project/devices/:name/shutdown': undefined,
  'POST /api/v1/projects/:project/devices/:name/reset': undefined,
  'POST /api/v1/projects/:project/devices/:name/update': {},
  'POST /api/v1/projects/:project/updates': {},
  'POST /api/v1/releases': { targets: {} },
  'POST /api/v1/releases/root': { root: {} },
  'POST /api/v1/projects/:project/keys': { name: 'k1' },
  'POST /api/v1/projects/:project/keys/:name/rotate': undefined,
  'POST /api/v1/projects/:project/keys/:name/enable': undefined,
  'POST /api/v1/projects/:project/keys/:name/disable': undefined,
  'POST /api/v1/projects/:project/keys/:name/schedule-deletion': {},
  'POST /api/v1/projects/:project/keys/:name/cancel-deletion': undefined,
  'POST /api/v1/projects/:project/secrets': { name: 's1', value: 'not-a-real-secret' },
  'POST /api/v1/projects/:project/secrets/:name/rotate': { value: 'not-a-real-secret' },
  'DELETE /api/v1/projects/:project/secrets/:name': undefined,
  'POST /api/v1/projects/:project/cameras': { name: 'c1', url: 'rtsps://cam.example/stream' },
  'PATCH /api/v1/projects/:project/cameras/:name': { description: 'lobby' },
  'POST /api/v1/projects/:project/cameras/:name/pause': undefined,
  'POST /api/v1/projects/:project/cameras/:name/resume': undefined,
  'DELETE /api/v1/projects/:project/cameras/:name': undefined,
  'POST /api/v1/projects/:project/log-groups': { name: 'g1' },
  'PATCH /api/v1/projects/:project/log-groups/:group': { retentionDays: 7 },
  'POST /api/v1/projects/:project/log-groups/:group/streams/:stream/events': { events: [{ time: 0, message: 'x' }] },
  'PUT /api/v1/projects/:project/artifacts/:name+': undefined,
  'DELETE /api/v1/projects/:project/artifacts/:name+': undefined,
  'POST /api/v1/projects/:project/packages': { manifestB64: 'e30=', signature: { algorithm: 'ed25519', keyId: '0123456789abcdef', publicKey: `${'A'.repeat(43)}=`, signature: `${'A'.repeat(86)}==` } },
  'POST /api/v1/projects/:project/signing-keys': { name: 'k1', publicKey: `${'A'.repeat(43)}=` },
  'DELETE /api/v1/projects/:project/signing-keys/:name': undefined,
  'PUT /api/v1/projects/:project/package-policy': { requireSignedBy: [] },
  'POST /api/v1/projects/:project/apps': { manifest: {}, device: 'd1' },
  'DELETE /api/v1/projects/:project/apps/:instance': undefined,
  'POST /api/v1/projects/:project/apps/:instance/pause': { camera: 'c1' },
  'POST /api/v1/projects/:project/apps/:instance/resume': { camera: 'c1' },
};

for (const engine of await engines()) {
  describe(`[${engine}] least privilege`, () => {
    let s: TestServer;
    let admin: string;
    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
    });
    after(() => s.close());

    test('a ReadOnly user gets 403 ACCESS_DENIED on every write route, and reads work', async () => {
      const token = await signIn(s, admin, 'reader', [{ role: 'ReadOnly', project: '*' }]);
      const routes = buildRoutes(s.plane.services).filter((r) => r.action !== undefined && isActionName(r.action) && isWriteAction(r.action));
      assert.ok(routes.length >= 15, `only ${routes.length} write routes found`);
      for (const r of routes) {
        const key = `${r.method} ${r.path}`;
        assert.ok(key in SAMPLE_BODIES, `add a sample body for ${key}`);
        const path = r.path.replace(/:([a-zA-Z]+)\+?/g, (_m, k: string) => (k === 'type' ? 'user' : k === 'id' ? 'a'.repeat(24) : k === 'project' ? 'default' : 'admin'));
        const body = SAMPLE_BODIES[key] ?? (r.body === undefined ? undefined : {});
        const res = await s.call<Err>(r.method, path, body, token);
        assert.equal(res.status, 403, `${key}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'ACCESS_DENIED');
      }
      assert.equal((await s.call('GET', '/api/v1/users', undefined, token)).status, 200);
      assert.equal((await s.call('GET', '/api/v1/projects', undefined, token)).status, 200);
      // And nothing was changed by those attempts.
      const users = await s.call<{ users: { name: string; disabled: boolean }[] }>('GET', '/api/v1/users', undefined, admin);
      assert.deepEqual(users.body.users.map((u) => u.name).sort(), ['admin', 'reader']);
      assert.ok(users.body.users.every((u) => !u.disabled));
    });

    test('an explicit deny beats an allow, and the simulator names the deciding statement', async () => {
      const token = await signIn(s, admin, 'ops', [{ role: 'Admin', project: '*' }]);
      assert.equal((await s.call('GET', '/api/v1/groups', undefined, token)).status, 200);
      const deny = {
        version: '2026-01-01',
        statements: [{ sid: 'NoGroupReads', effect: 'deny', actions: ['group:*'], resources: ['srn:sightline::group/*'] }],
      };
      assert.equal((await s.call('POST', '/api/v1/policies', { name: 'no-groups', document: deny }, admin)).status, 201);
      assert.equal((await s.call('POST', '/api/v1/policies/no-groups/attachments', { principalType: 'user', principal: 'ops' }, admin)).status, 200);
      const denied = await s.call<Err>('GET', '/api/v1/groups', undefined, token);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'ACCESS_DENIED');
      const sim = await s.call<{ decision: string; reason: string; matched: { policy: string; sid: string } }>(
        'POST',
        '/api/v1/policies/simulate',
        { user: 'ops', action: 'group:List', resource: 'srn:sightline::group/*' },
        admin,
      );
      assert.equal(sim.body.decision, 'deny');
      assert.equal(sim.body.reason, 'explicit-deny');
      assert.equal(sim.body.matched.policy, 'no-groups');
      assert.equal(sim.body.matched.sid, 'NoGroupReads');
      const allow = await s.call<{ decision: string; matched: { policy: string } }>(
        'POST',
        '/api/v1/policies/simulate',
        { user: 'ops', action: 'user:List', resource: 'srn:sightline::user/*' },
        admin,
      );
      assert.equal(allow.body.decision, 'allow');
      assert.equal(allow.body.matched.policy, 'role:Admin@*');
    });

    test('conditions: a statement that needs MFA does not apply without MFA', async () => {
      await s.call('POST', '/api/v1/users', { name: 'mfa-only', password: 'violet harbour' }, admin);
      const doc = {
        version: '2026-01-01',
        statements: [{ effect: 'allow', actions: ['user:List'], resources: ['srn:sightline::user/*'], conditions: { mfaPresent: true } }],
      };
      await s.call('POST', '/api/v1/policies', { name: 'list-with-mfa', document: doc }, admin);
      await s.call('POST', '/api/v1/policies/list-with-mfa/attachments', { principalType: 'user', principal: 'mfa-only' }, admin);
      const withMfa = await s.call<{ decision: string }>('POST', '/api/v1/policies/simulate', { user: 'mfa-only', action: 'user:List', resource: 'srn:sightline::user/*' }, admin);
      const without = await s.call<{ decision: string }>(
        'POST',
        '/api/v1/policies/simulate',
        { user: 'mfa-only', action: 'user:List', resource: 'srn:sightline::user/*', mfaPresent: false },
        admin,
      );
      assert.equal(withMfa.body.decision, 'allow');
      assert.equal(without.body.decision, 'deny');
    });

    test('projects separate tenants: a role on one project opens nothing in another', async () => {
      assert.equal((await s.call('POST', '/api/v1/projects', { name: 'prod' }, admin)).status, 201);
      await s.call('POST', '/api/v1/users', { name: 'dev1', password: 'amber compass', roles: [{ role: 'Operator', project: 'default' }] }, admin);
      const inDefault = await s.call<{ decision: string }>('POST', '/api/v1/policies/simulate', { user: 'dev1', action: 'device:Reboot', resource: 'srn:sightline:default:device/cam-1' }, admin);
      const inProd = await s.call<{ decision: string }>('POST', '/api/v1/policies/simulate', { user: 'dev1', action: 'device:Reboot', resource: 'srn:sightline:prod:device/cam-1' }, admin);
      assert.equal(inDefault.body.decision, 'allow');
      assert.equal(inProd.body.decision, 'deny');
    });

    test('an invalid policy is refused with the path of the fault, and nothing is written', async () => {
      const bad = { version: '2026-01-01', statements: [{ effect: 'allow', actions: ['device:Explode'], resources: ['*'] }] };
      const r = await s.call<Err>('POST', '/api/v1/policies', { name: 'broken', document: bad }, admin);
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'POLICY_INVALID');
      assert.match(r.body.error.message, /statements\[0\]\.actions\[0\]/);
      assert.equal((await s.call('GET', '/api/v1/policies/broken', undefined, admin)).status, 404);
    });
  });
}
