import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { base32Decode, totpCode } from '@sightline/core';
import { engines, startTestServer, type TestServer } from './harness.js';

interface Err {
  error: { code: string; message: string };
}

for (const engine of await engines()) {
  describe(`[${engine}] sign-in and MFA`, () => {
    let s: TestServer;
    before(async () => {
      s = await startTestServer({ engine, config: { 'auth.maxFailedLoginsPerHour': 5 } });
    });
    after(() => s.close());

    test('login without a TOTP code is refused with MFA_REQUIRED, for known and unknown names alike', async () => {
      for (const user of [s.init.admin.name, 'nobody']) {
        const r = await s.call<Err>('POST', '/api/v1/auth/login', { user, password: s.init.admin.password });
        assert.equal(r.status, 401);
        assert.equal(r.body.error.code, 'MFA_REQUIRED');
      }
    });

    test('a code from Debian oathtool is accepted, and replaying it is refused', async () => {
      s.clock.advance(30_000);
      const code = execFileSync('oathtool', ['--totp', '-b', `--now=@${s.nowSeconds()}`, s.init.admin.totpSecret], { encoding: 'utf8' }).trim();
      assert.match(code, /^\d{6}$/);
      const body = { user: s.init.admin.name, password: s.init.admin.password, totp: code };
      const first = await s.call<{ token: string; mfaPresent: boolean; scope: string }>('POST', '/api/v1/auth/login', body);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.scope, 'full');
      assert.equal(first.body.mfaPresent, true);
      assert.match(first.body.token, /^sls_/);
      const replay = await s.call<Err>('POST', '/api/v1/auth/login', body);
      assert.equal(replay.status, 401);
      assert.equal(replay.body.error.code, 'TOTP_REPLAYED');
      const who = await s.call<{ user: string }>('GET', '/api/v1/auth/whoami', undefined, first.body.token);
      assert.equal(who.body.user, s.init.admin.name);
    });

    test('a wrong code or password gives one generic LOGIN_FAILED', async () => {
      const secret = base32Decode(s.init.admin.totpSecret);
      s.clock.advance(30_000);
      const wrongCode = String((Number(totpCode(secret, s.clock.now())) + 1) % 1_000_000).padStart(6, '0');
      const a = await s.call<Err>('POST', '/api/v1/auth/login', { user: s.init.admin.name, password: s.init.admin.password, totp: wrongCode });
      const b = await s.call<Err>('POST', '/api/v1/auth/login', { user: s.init.admin.name, password: 'not the password', totp: '123456' });
      assert.equal(a.body.error.code, 'LOGIN_FAILED');
      assert.equal(b.body.error.code, 'LOGIN_FAILED');
      assert.equal(a.body.error.message, b.body.error.message);
    });

    test('a new user enrolls TOTP at first sign-in; the enrollment token opens nothing else', async () => {
      const admin = await s.adminToken();
      const created = await s.call<{ initialPassword: string }>('POST', '/api/v1/users', { name: 'erin', roles: [{ role: 'ReadOnly', project: '*' }] }, admin);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const pw = created.body.initialPassword;
      const login = await s.call<{ token: string; scope: string }>('POST', '/api/v1/auth/login', { user: 'erin', password: pw });
      assert.equal(login.body.scope, 'mfa-enroll');
      const blocked = await s.call<Err>('GET', '/api/v1/users', undefined, login.body.token);
      assert.equal(blocked.status, 401);
      assert.equal(blocked.body.error.code, 'MFA_ENROLLMENT_REQUIRED');
      const enroll = await s.call<{ secret: string; otpauthUri: string }>('POST', '/api/v1/auth/mfa/enroll', {}, login.body.token);
      assert.match(enroll.body.otpauthUri, /^otpauth:\/\/totp\/Sightline:erin\?secret=/);
      const code = execFileSync('oathtool', ['--totp', '-b', `--now=@${s.nowSeconds()}`, enroll.body.secret], { encoding: 'utf8' }).trim();
      const confirmed = await s.call<{ token: string; scope: string; mfaPresent: boolean }>('POST', '/api/v1/auth/mfa/confirm', { code }, login.body.token);
      assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
      assert.equal(confirmed.body.scope, 'full');
      const list = await s.call('GET', '/api/v1/users', undefined, confirmed.body.token);
      assert.equal(list.status, 200);
      // The enrollment token is spent.
      assert.equal((await s.call('GET', '/api/v1/auth/whoami', undefined, login.body.token)).status, 401);
      // From now on the password alone is not enough.
      const again = await s.call<Err>('POST', '/api/v1/auth/login', { user: 'erin', password: pw });
      assert.equal(again.body.error.code, 'MFA_REQUIRED');
    });

    test('too many failures lock the account with a clear message and Retry-After', async () => {
      const admin = await s.adminToken();
      const created = await s.call<{ initialPassword: string }>('POST', '/api/v1/users', { name: 'lock-me' }, admin);
      const pw = created.body.initialPassword;
      for (let i = 0; i < 5; i++) {
        const r = await s.call<Err>('POST', '/api/v1/auth/login', { user: 'lock-me', password: `${pw}-wrong` });
        assert.equal(r.body.error.code, 'LOGIN_FAILED');
      }
      const locked = await s.call<Err>('POST', '/api/v1/auth/login', { user: 'lock-me', password: pw });
      assert.equal(locked.status, 423);
      assert.equal(locked.body.error.code, 'ACCOUNT_LOCKED');
      assert.match(locked.body.error.message, /locked after 5 failed sign-ins/);
      assert.ok(Number(locked.headers['retry-after']) > 3000);
    });

    test('passwords follow NIST 800-63B and never come back', async () => {
      const admin = await s.adminToken();
      const weak = await s.call<Err>('POST', '/api/v1/users', { name: 'frank', password: 'password1' }, admin);
      assert.equal(weak.status, 400);
      assert.equal(weak.body.error.code, 'PASSWORD_REJECTED');
      const none = await s.call<Err>('GET', '/api/v1/users/frank', undefined, admin);
      assert.equal(none.status, 404, 'nothing was written');
      const ok = await s.call<Record<string, unknown>>('POST', '/api/v1/users', { name: 'frank', password: 'lantern meadow' }, admin);
      assert.equal(ok.status, 201);
      assert.equal(ok.body['initialPassword'], undefined, 'a chosen password is not echoed');
      assert.ok(!JSON.stringify(ok.body).includes('lantern'));
    });

    test('API keys: shown once, usable, scoped by policy, revocable', async () => {
      const admin = await s.adminToken();
      const scoped = {
        version: '2026-01-01',
        statements: [{ effect: 'allow', actions: ['user:List', 'user:Get'], resources: ['srn:sightline::user/*'] }],
      };
      const created = await s.call<{ token: string; key: { id: string; scoped: boolean } }>('POST', '/api/v1/apikeys', { name: 'ci-bot', expiresInDays: 7, policy: scoped }, admin);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.match(created.body.token, /^slk_[a-f0-9]{24}_/);
      const token = created.body.token;
      assert.equal((await s.call('GET', '/api/v1/users', undefined, token)).status, 200);
      const denied = await s.call<Err>('GET', '/api/v1/groups', undefined, token);
      assert.equal(denied.status, 403, 'the key policy narrows its owner (an admin)');
      assert.equal(denied.body.error.code, 'ACCESS_DENIED');
      const listed = await s.call<{ apiKeys: Record<string, unknown>[] }>('GET', '/api/v1/apikeys', undefined, admin);
      assert.ok(!JSON.stringify(listed.body).includes(token.slice(30)), 'the token is never listed');
      assert.equal((await s.call('DELETE', `/api/v1/apikeys/${created.body.key.id}`, undefined, admin)).status, 200);
      const after = await s.call<Err>('GET', '/api/v1/users', undefined, token);
      assert.equal(after.status, 401);
      assert.equal(after.body.error.code, 'AUTH_INVALID');
      const tooLong = await s.call<Err>('POST', '/api/v1/apikeys', { name: 'forever', expiresInDays: 5000 }, admin);
      assert.equal(tooLong.status, 400);
    });

    test('logout ends the session', async () => {
      const login = await s.call<{ token: string }>('POST', '/api/v1/auth/login', {
        user: s.init.admin.name,
        password: s.init.admin.password,
        totp: s.code(s.init.admin.totpSecret),
      });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal((await s.call('POST', '/api/v1/auth/logout', {}, login.body.token)).status, 200);
      assert.equal((await s.call('GET', '/api/v1/auth/whoami', undefined, login.body.token)).status, 401);
    });
  });
}
