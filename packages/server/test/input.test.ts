import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { base32Decode } from '@sightline/core';
import { createLogger } from '../src/logging/logger.js';
import { engines, filesUnder, startTestServer, type TestServer } from './harness.js';

interface Err {
  error: { code: string; message: string; details?: Record<string, unknown> };
}


for (const engine of await engines()) {
  describe(`[${engine}] bad input is refused with a code and writes nothing`, () => {
    let s: TestServer;
    let admin: string;
    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
    });
    after(() => s.close());

    const cases: { what: string; path: string; body: unknown; list: string; field: string; kind: string }[] = [
      { what: 'an e-mail address as a user name', path: '/api/v1/users', body: { name: 'jane.doe@example.com' }, list: '/api/v1/users', field: 'name', kind: 'e-?mail' },
      {
        what: 'a phone number in a group description',
        path: '/api/v1/groups',
        body: { name: 'night-shift', description: 'call +44 20 7946 0958 first' },
        list: '/api/v1/groups',
        field: 'description',
        kind: 'phone',
      },
      {
        what: 'a card number in a project description',
        path: '/api/v1/projects',
        body: { name: 'shop', description: 'billing 4111 1111 1111 1111' },
        list: '/api/v1/projects',
        field: 'description',
        kind: 'card',
      },
      {
        what: 'a credential in a policy description',
        path: '/api/v1/policies',
        body: { name: 'p', description: 'password=hunter2hunter2', document: { version: '2026-01-01', statements: [] } },
        list: '/api/v1/policies',
        field: 'description',
        kind: 'credential',
      },
    ];
    for (const c of cases) {
      test(`${c.what}: SENSITIVE_FREE_TEXT naming field and kind, value never echoed`, async () => {
        const before = await s.call('GET', c.list, undefined, admin);
        const r = await s.call<Err>('POST', c.path, c.body, admin);
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 'SENSITIVE_FREE_TEXT');
        assert.match(r.body.error.message, new RegExp(c.field));
        assert.match(r.body.error.message, new RegExp(c.kind, 'i'));
        const sensitive = (c.body as Record<string, string>)[c.field] ?? '';
        assert.ok(!JSON.stringify(r.body).includes(sensitive), 'value echoed');
        const afterList = await s.call('GET', c.list, undefined, admin);
        assert.deepEqual(afterList.body, before.body, 'nothing was written');
      });
    }

    test('an e-mail address hidden in a valid-looking name is caught by the screen', async () => {
      const r = await s.call<Err>('POST', '/api/v1/groups', { name: 'ops', description: 'owner: jane.doe@example.com' }, admin);
      assert.equal(r.body.error.code, 'SENSITIVE_FREE_TEXT');
      assert.ok(!r.body.error.message.includes('jane'));
    });

    test('body caps, JSON, content type and unknown fields', async () => {
      const big = await s.call<Err>('POST', '/api/v1/groups', { name: 'g', description: 'x'.repeat(70 * 1024) }, admin);
      assert.equal(big.status, 413);
      assert.equal(big.body.error.code, 'BODY_TOO_LARGE');
      const notJson = await s.call<Err>('POST', '/api/v1/groups', '{"name": ', admin);
      assert.equal(notJson.body.error.code, 'BODY_NOT_JSON');
      const wrongType = await s.call<Err>('POST', '/api/v1/groups', 'name=g', admin, { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(wrongType.status, 415);
      const extra = await s.call<Err>('POST', '/api/v1/groups', { name: 'g', admin: true }, admin);
      assert.equal(extra.body.error.code, 'VALIDATION_FAILED');
      assert.match(extra.body.error.message, /^body/);
      const missing = await s.call<Err>('GET', '/api/v1/nothing-here', undefined, admin);
      assert.equal(missing.status, 404);
      const method = await s.call<Err>('PUT', '/api/v1/users', {}, admin);
      assert.equal(method.status, 405);
      const noAuth = await s.call<Err>('GET', '/api/v1/users');
      assert.equal(noAuth.status, 401);
      assert.equal(noAuth.body.error.code, 'AUTH_REQUIRED');
      const groups = await s.call<{ groups: unknown[] }>('GET', '/api/v1/groups', undefined, admin);
      assert.equal(groups.body.groups.length, 0);
    });
  });
}

test('no password, password hash input, TOTP seed or API key appears in plaintext in the data folder or logs', async () => {
  const lines: string[] = [];
  const s = await startTestServer({ logger: createLogger('debug', (l) => lines.push(l)) });
  try {
    const admin = await s.adminToken();
    const userPassword = 'saffron lighthouse quay';
    await s.call('POST', '/api/v1/users', { name: 'grace', password: userPassword }, admin);
    const key = await s.call<{ token: string }>('POST', '/api/v1/apikeys', { name: 'bot', expiresInDays: 3 }, admin);
    const login = await s.call<{ token: string }>('POST', '/api/v1/auth/login', { user: 'grace', password: userPassword });
    const enroll = await s.call<{ secret: string }>('POST', '/api/v1/auth/mfa/enroll', {}, login.body.token);
    await s.call('POST', '/api/v1/auth/mfa/confirm', { code: s.code(enroll.body.secret) }, login.body.token);
    // A failed login with a password-looking value must not be logged either.
    await s.call('POST', '/api/v1/auth/login', { user: 'grace', password: 'wrong-but-secret-9', totp: '000000' });
    await s.plane.close().catch(() => undefined);

    const needles = [
      s.init.admin.password,
      s.init.admin.totpSecret,
      Buffer.from(base32Decode(s.init.admin.totpSecret)).toString('hex'),
      Buffer.from(base32Decode(s.init.admin.totpSecret)).toString('base64'),
      enroll.body.secret,
      userPassword,
      'wrong-but-secret-9',
      key.body.token,
      key.body.token.split('_').pop() ?? '',
      login.body.token,
      admin,
    ];
    const files = filesUnder(s.dataDir);
    assert.ok(files.some((f) => f.endsWith('sightline.db')));
    const haystacks = [...files.map((f) => ({ name: f, bytes: readFileSync(f) })), { name: 'logs', bytes: Buffer.from(lines.join('')) }];
    for (const h of haystacks) {
      for (const needle of needles) {
        assert.equal(h.bytes.includes(Buffer.from(needle)), false, `${h.name} contains a secret in plaintext`);
      }
      // The raw TOTP seed bytes must not be there either.
      assert.equal(h.bytes.includes(Buffer.from(base32Decode(s.init.admin.totpSecret))), false, `${h.name} contains the raw TOTP seed`);
    }
    assert.ok(lines.length > 0, 'the logger saw the requests');
  } finally {
    await s.close().catch(() => undefined);
  }
});
