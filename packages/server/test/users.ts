import assert from 'node:assert/strict';
import type { TestServer } from './harness.js';

/** Creates user `name` with `roles` (as `admin`), signs in with the initial password, enrols MFA and returns a full session token. */
export async function signIn(s: TestServer, admin: string, name: string, roles: { role: string; project: string }[]): Promise<string> {
  const created = await s.call<{ initialPassword: string }>('POST', '/api/v1/users', { name, roles }, admin);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const first = await s.call<{ token: string }>('POST', '/api/v1/auth/login', { user: name, password: created.body.initialPassword });
  const enroll = await s.call<{ secret: string }>('POST', '/api/v1/auth/mfa/enroll', {}, first.body.token);
  const full = await s.call<{ token: string }>('POST', '/api/v1/auth/mfa/confirm', { code: s.code(enroll.body.secret) }, first.body.token);
  assert.equal(full.status, 200, JSON.stringify(full.body));
  return full.body.token;
}
