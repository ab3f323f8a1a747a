import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureConsoleBuilt } from '../../console/scripts/ensure-built.js';
import { CONSOLE_CSP, consoleFallback } from '../src/console/console-static.js';
import { startTestServer, type ApiResponse, type TestServer } from './harness.js';

type Err = { error: { code: string; message: string } };

/** The console's CSP, as the issue demands it: no inline script, no eval, never framed. */
function assertConsoleHeaders(res: ApiResponse<unknown>): void {
  const csp = String(res.headers['content-security-policy']);
  assert.equal(csp, CONSOLE_CSP);
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) {
    assert.ok(csp.split('; ').includes(d), `CSP lacks ${d}: ${csp}`);
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(String(res.headers['strict-transport-security']), /^max-age=\d+; includeSubDomains$/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['x-frame-options'], 'DENY');
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
}

/** GET over TLS, keeping the body as text (the pages are HTML, which the harness's JSON client cannot parse). */
function rawGet(s: TestServer, path: string): Promise<ApiResponse<string>> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: s.port, path, ca: s.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function sessionCookieOf(res: ApiResponse<unknown>): { header: string; value: string } {
  const raw = res.headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
  const header = all.find((c) => c.startsWith('__Host-sightline_session='));
  assert.ok(header !== undefined, `no session cookie in ${JSON.stringify(all)}`);
  const value = header.split(';')[0]?.slice('__Host-sightline_session='.length) ?? '';
  return { header, value };
}

describe('web console: static files, CSP, cookie sessions, CSRF', () => {
  let s: TestServer;
  before(async () => {
    await ensureConsoleBuilt({ quiet: true });
    s = await startTestServer();
  });
  after(() => s.close());

  test('console pages and assets carry the strict CSP and the security headers; no inline script', async () => {
    const root = await rawGet(s, '/');
    assert.equal(root.status, 302);
    assert.equal(root.headers['location'], '/console/');
    const index = await rawGet(s, '/console/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    assertConsoleHeaders(index);
    // Every <script> loads a file; none carries code inline.
    const scripts = [...index.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length > 0);
    for (const m of scripts) {
      assert.match(m[1] ?? '', /\bsrc="\/console\/assets\/[^"]+\.js"/);
      assert.equal((m[2] ?? '').trim(), '');
    }
    assert.doesNotMatch(index.body, /\sstyle=|<style/);
    // Client-side routes get the same page.
    const deep = await rawGet(s, '/console/devices/lobby-box');
    assert.equal(deep.status, 200);
    assert.equal(deep.body, index.body);
    assertConsoleHeaders(deep);
    // Hashed assets are cached for good.
    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(index.body)?.[1] ?? '';
    const js = await rawGet(s, asset);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assertConsoleHeaders(js);
    assert.equal((await rawGet(s, '/console/assets/nope.js')).status, 404);
    for (const sneaky of ['/console/../ca.pem', '/console/%2e%2e/%2e%2e/%2e%2e/package.json', '/console/assets/..%2f..%2fpackage.json']) {
      const r = await rawGet(s, sneaky);
      assert.doesNotMatch(r.body, /BEGIN CERTIFICATE|"name": "@sightline/, `${sneaky} served a file outside dist`);
    }
    // The API keeps its own, stricter policy.
    const health = await s.call('GET', '/api/v1/health');
    assert.equal(health.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
  });

  test('console login sets an HttpOnly, Secure, SameSite=Strict, Path=/, __Host- cookie and returns no token', async () => {
    const login = await s.call<{ csrfToken: string; scope: string; token?: string }>('POST', '/api/v1/auth/console/login', {
      user: s.init.admin.name,
      password: s.init.admin.password,
      totp: s.code(s.init.admin.totpSecret),
    });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.equal(login.body.scope, 'full');
    assert.equal(login.body.token, undefined, 'the session token never reaches the page');
    const { header, value } = sessionCookieOf(login);
    const attrs = header.split(';').map((a) => a.trim());
    assert.ok(attrs[0]?.startsWith('__Host-'));
    for (const a of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) assert.ok(attrs.includes(a), `cookie lacks ${a}: ${header}`);
    assert.ok(!attrs.some((a) => /^domain=/i.test(a)), '__Host- cookies carry no Domain');
    assert.match(value, /^sls_/);
    const cookie = `__Host-sightline_session=${value}`;

    // Reads work with the cookie alone; the session endpoint hands back the same CSRF token.
    const who = await s.call<{ user: string }>('GET', '/api/v1/auth/whoami', undefined, undefined, { cookie });
    assert.equal(who.status, 200);
    assert.equal(who.body.user, s.init.admin.name);
    const session = await s.call<{ csrfToken: string }>('GET', '/api/v1/auth/console/session', undefined, undefined, { cookie });
    assert.equal(session.body.csrfToken, login.body.csrfToken);

    // State-changing requests without the CSRF token, with a wrong one, or from another origin: 403, nothing written.
    const origin = `https://127.0.0.1:${s.port}`;
    const attempts: [string, Record<string, string>][] = [
      ['no token', { cookie }],
      ['wrong token', { cookie, 'x-csrf-token': 'A'.repeat(43) }],
      ['token of another length', { cookie, 'x-csrf-token': 'short' }],
      ['foreign Origin', { cookie, 'x-csrf-token': login.body.csrfToken, origin: 'https://evil.example' }],
      ['cross-site fetch', { cookie, 'x-csrf-token': login.body.csrfToken, 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [what, headers] of attempts) {
      const r = await s.call<Err>('POST', '/api/v1/projects', { name: 'csrf-target' }, undefined, headers);
      assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'CSRF_REFUSED', what);
    }
    const admin = await s.adminToken();
    const projects = await s.call<{ projects: { name: string }[] }>('GET', '/api/v1/projects', undefined, admin);
    assert.ok(!projects.body.projects.some((p) => p.name === 'csrf-target'), 'a refused request changed nothing');

    // With the token (and this origin), it works.
    const ok = await s.call('POST', '/api/v1/projects', { name: 'csrf-target' }, undefined, { cookie, 'x-csrf-token': login.body.csrfToken, origin, 'sec-fetch-site': 'same-origin' });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));

    // The refusals are in the audit trail.
    const events = await s.call<{ events: { event: { errorCode: string | null } }[] }>('GET', '/api/v1/audit/events?limit=5000', undefined, admin);
    assert.ok(events.body.events.filter((e) => e.event.errorCode === 'CSRF_REFUSED').length >= attempts.length);

    // Logout clears the cookie and ends the session.
    const out = await s.call('POST', '/api/v1/auth/console/logout', undefined, undefined, { cookie, 'x-csrf-token': login.body.csrfToken });
    assert.equal(out.status, 200);
    assert.match(sessionCookieOf(out).header, /^__Host-sightline_session=; .*Max-Age=0/);
    const after = await s.call<Err>('GET', '/api/v1/auth/whoami', undefined, undefined, { cookie });
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'AUTH_INVALID');
  });

  test('sign-in from a foreign page is refused (login CSRF)', async () => {
    const r = await s.call<Err>('POST', '/api/v1/auth/console/login', { user: s.init.admin.name, password: s.init.admin.password, totp: '000000' }, undefined, { origin: 'https://evil.example' });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'CSRF_REFUSED');
    assert.equal(r.headers['set-cookie'], undefined);
  });

  test('bearer-token clients are unaffected: no CSRF token needed, a stray cookie is ignored', async () => {
    const admin = await s.adminToken();
    const created = await s.call('POST', '/api/v1/projects', { name: 'bearer-flow' }, admin);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const withCookie = await s.call('POST', '/api/v1/projects', { name: 'bearer-flow-2' }, admin, { cookie: '__Host-sightline_session=sls_not-a-real-session-token-at-all' });
    assert.equal(withCookie.status, 201, JSON.stringify(withCookie.body));
    const login = await s.call<{ token: string }>('POST', '/api/v1/auth/login', { user: s.init.admin.name, password: s.init.admin.password, totp: s.code(s.init.admin.totpSecret) });
    assert.equal(login.status, 200);
    assert.match(login.body.token, /^sls_/);
    assert.equal(login.headers['set-cookie'], undefined, 'the CLI login sets no cookie');
  });
});

describe('console static files when the console is not built', () => {
  let server: Server;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sightline-no-console-'));
    const fallback = consoleFallback(dir);
    server = createServer((req, res) => {
      if (!fallback(req, res)) {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, method = 'GET'): Promise<{ status: number; body: string; csp: string | undefined }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, method }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), csp: res.headers['content-security-policy'] as string | undefined }));
      });
      req.on('error', reject);
      req.end();
    });

  test('answers 503 with a page saying how to build it; other paths are left to the API', async () => {
    const r = await get('/console/');
    assert.equal(r.status, 503);
    assert.match(r.body, /npm run build -w packages\/console/);
    assert.equal(r.csp, CONSOLE_CSP);
    assert.equal((await get('/device/v1/heartbeat')).status, 404);
    assert.equal((await get('/console/', 'POST')).status, 405);
  });
});
