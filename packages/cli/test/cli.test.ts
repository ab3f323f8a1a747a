import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base32Decode, totpCode } from '@sightline/core';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { baseEnv, json, MAIN, ROOT, runCli, type Result } from './cli-process.js';

/**
 * End to end: the real `sightline` CLI as a child process against a real
 * control plane (the server harness in this process, and one started by
 * `sightline server start` in another).
 */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-'));
const configDir = join(tmp, 'config');

const cli = (args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Result> =>
  runCli(args, { SIGHTLINE_CONFIG_DIR: configDir, ...options.env }, options.input === undefined ? {} : { input: options.input });

/**
 * TOTP codes. The harness server's clock is frozen and `s.code` steps it, so
 * codes never replay. The server run by `sightline server start` has the real
 * clock; it sees one sign-in, so the current code is enough.
 */
const realTimeCode = (secret: string): string => totpCode(base32Decode(secret), Date.now());

let s: TestServer;
let caFile: string;
before(async () => {
  s = await startTestServer();
  caFile = join(s.dataDir, 'ca.pem');
});
after(async () => {
  await s.close();
  rmSync(tmp, { recursive: true, force: true });
});

function adminLogin(): Promise<Result> {
  return cli(
    ['login', '--url', s.url, '--ca', caFile, '--user', s.init.admin.name, '--password-stdin', '--totp', s.code(s.init.admin.totpSecret)],
    {
      input: `${s.init.admin.password}\n`,
    },
  );
}

test('usage: --help documents exit codes; an unknown flag or command exits 2', async () => {
  const [help, flag, command, sub] = await Promise.all([
    cli(['--help']),
    cli(['user', 'list', '--bogus']),
    cli(['bogus']),
    cli(['policy', 'simulate', '--help']),
  ]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit codes:[\s\S]*10 +policy simulate: DENY/);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^error USAGE: unknown option '--bogus'/);
  assert.equal(command.code, 2);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /10 when denied/);
});

test('server init --json, server start, login without a TTY, whoami, profile mode 0600', async () => {
  const dataDir = join(tmp, 'data');
  const dir = join(tmp, 'config-own');
  const init = await cli(['server', 'init', '--data-dir', dataDir, '--port', '0', '--json']);
  assert.equal(init.code, 0, init.stderr);
  const r = json<{
    url: string;
    caFile: string;
    admin: { name: string; password: string; totpSecret: string; otpauthUri: string };
    next: string[];
  }>(init);
  assert.equal(r.admin.name, 'admin');
  assert.match(r.admin.otpauthUri, /^otpauth:\/\/totp\//);
  assert.match(r.next[1] ?? '', /^sightline login --url https:\/\/localhost:0 --ca .*ca\.pem --user admin$/);

  const again = await cli(['server', 'init', '--data-dir', dataDir]);
  assert.equal(again.code, 6);
  assert.match(again.stderr, /^error ALREADY_INITIALIZED: /);

  const server = spawn(process.execPath, ['--import', 'tsx', MAIN, 'server', 'start', '--data-dir', dataDir], {
    cwd: ROOT,
    env: { ...baseEnv, SIGHTLINE_HOST: '127.0.0.1', SIGHTLINE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      server.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      server.stderr.on('data', (d: Buffer) => (err += d.toString()));
      server.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
    });
    const env = { SIGHTLINE_CONFIG_DIR: dir };
    const login = await cli(
      [
        'login',
        '--url',
        url,
        '--ca',
        r.caFile,
        '--user',
        'admin',
        '--password-stdin',
        '--totp',
        realTimeCode(r.admin.totpSecret),
        '--json',
      ],
      {
        input: `${r.admin.password}\n`,
        env,
      },
    );
    assert.equal(login.code, 0, login.stderr);
    assert.equal(json(login)['status'], 'signed-in');
    assert.ok(!login.stdout.includes(r.admin.password));

    const who = await cli(['whoami', '--json'], { env });
    assert.equal(who.code, 0, who.stderr);
    const { url: whoUrl, ...me } = json(who);
    assert.equal(whoUrl, url);
    assert.deepEqual(me, {
      type: 'user',
      name: 'admin',
      user: 'admin',
      mfaPresent: true,
      roles: [{ role: 'Admin', project: '*' }],
      groups: [],
    });

    assert.equal(statSync(join(dir, 'profiles.json')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  } finally {
    const exited = new Promise<number | null>((resolve) => server.once('close', resolve));
    server.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});

test('login with a wrong code exits 3 with LOGIN_FAILED and stores nothing', async () => {
  const good = s.code(s.init.admin.totpSecret);
  const wrong = String((Number(good) + 500_000) % 1_000_000).padStart(6, '0');
  const env = { SIGHTLINE_CONFIG_DIR: join(tmp, 'config-wrong') };
  const r = await cli(['login', '--url', s.url, '--ca', caFile, '--user', 'admin', '--password-stdin', '--totp', wrong], {
    input: `${s.init.admin.password}\n`,
    env,
  });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^error LOGIN_FAILED: /);
  assert.ok(!r.stderr.includes(s.init.admin.password));
  const who = await cli(['whoami'], { env });
  assert.equal(who.code, 3);
  assert.match(who.stderr, /^error NOT_LOGGED_IN: /);
});

test('admin signs in; user create prints the password once; a ReadOnly user enrolls TOTP and is denied user create (exit 4)', async () => {
  const login = await adminLogin();
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /^Signed in to https:\/\/localhost:\d+ as admin \(profile default\)/);

  const created = await cli(['user', 'create', 'reader', '--role', 'ReadOnly@*']);
  assert.equal(created.code, 0, created.stderr);
  const password = /Initial password: (\S+)/.exec(created.stdout)?.[1] ?? '';
  assert.ok(password.length >= 8);
  assert.equal(created.stdout.split(password).length, 2, 'the password appears exactly once');
  const [described, dup] = await Promise.all([cli(['user', 'describe', 'reader', '--json']), cli(['user', 'create', 'reader'])]);
  assert.equal(json(described)['name'], 'reader');
  assert.ok(!described.stdout.includes(password));
  assert.equal(dup.code, 6);
  assert.match(dup.stderr, /^error ALREADY_EXISTS: /);

  // First sign-in without a TTY: the enrollment token is stored, the secret printed.
  const enroll = await cli(
    ['--profile', 'reader', 'login', '--url', s.url, '--ca', caFile, '--user', 'reader', '--password-stdin', '--json'],
    { input: `${password}\n` },
  );
  assert.equal(enroll.code, 0, enroll.stderr);
  const e = json<{ status: string; secret: string; next: string }>(enroll);
  assert.equal(e.status, 'mfa-enrollment-required');
  assert.equal(e.next, 'sightline mfa confirm --code CODE --profile reader');

  const early = await cli(['--profile', 'reader', 'whoami']);
  assert.equal(early.code, 3);
  assert.match(early.stderr, /^error MFA_ENROLLMENT_REQUIRED: /);

  const confirm = await cli(['mfa', 'confirm', '--profile', 'reader', '--code', s.code(e.secret)]);
  assert.equal(confirm.code, 0, confirm.stderr);
  const who = await cli(['--profile', 'reader', 'whoami', '--json']);
  assert.deepEqual(json(who)['roles'], [{ role: 'ReadOnly', project: '*' }]);

  const [denied, listed] = await Promise.all([
    cli(['--profile', 'reader', 'user', 'create', 'mallory']),
    cli(['--profile', 'reader', 'user', 'list', '--json']),
  ]);
  assert.equal(denied.code, 4);
  assert.match(denied.stderr, /^error ACCESS_DENIED: /);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(
    json<{ users: { name: string }[] }>(listed)
      .users.map((u) => u.name)
      .sort(),
    ['admin', 'reader'],
  );
});

test('policy simulate exits 0 on allow and 10 on deny, naming the deciding statement', async () => {
  const doc = join(tmp, 'deny.json');
  writeFileSync(
    doc,
    JSON.stringify({
      version: '2026-01-01',
      statements: [{ sid: 'NoUserReads', effect: 'deny', actions: ['user:Get'], resources: ['*'] }],
    }),
  );
  // Two independent chains at once: group then membership, policy then attachment.
  const chain = async (...commands: string[][]): Promise<void> => {
    for (const args of commands) {
      const r = await cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  };
  await Promise.all([
    chain(['group', 'create', 'auditors', '--description', 'read-only people'], ['group', 'add-member', 'auditors', 'reader']),
    chain(['policy', 'create', 'no-user-reads', '--file', doc]),
  ]);
  await chain(['policy', 'attach', 'no-user-reads', '--group', 'auditors']);
  const sim = (user: string, action: string, extra: string[] = []): Promise<Result> =>
    cli(['policy', 'simulate', '--user', user, '--action', action, '--resource', 'srn:sightline::user/admin', ...extra]);
  const [allow, explicit, implicit, neither] = await Promise.all([
    sim('reader', 'user:List'),
    sim('reader', 'user:Get', ['--json']),
    sim('reader', 'user:Delete', ['--no-mfa']),
    cli(['policy', 'attach', 'no-user-reads']),
  ]);
  assert.equal(allow.code, 0, allow.stderr);
  assert.match(allow.stdout, /^ALLOW: .*\nDecided by role:ReadOnly@\*/);
  assert.equal(explicit.code, 10, explicit.stderr);
  const decided = json<{ reason: string; matched?: { policy: string; sid?: string } }>(explicit);
  assert.equal(decided.reason, 'explicit-deny');
  assert.equal(decided.matched?.policy, 'no-user-reads');
  assert.equal(decided.matched.sid, 'NoUserReads');
  assert.equal(implicit.code, 10);
  assert.match(implicit.stdout, /^DENY: no statement allows it\.$/m);
  assert.equal(neither.code, 2);

  const missing = await cli(['policy', 'get', 'nope']);
  assert.equal(missing.code, 5);
  assert.match(missing.stderr, /^error POLICY_NOT_FOUND: /);
  const badFile = await cli(['policy', 'create', 'x', '--file', join(tmp, 'absent.json')]);
  assert.equal(badFile.code, 7);
  assert.match(badFile.stderr, /^error FILE_UNREADABLE: /);
});

test('apikey create prints the token once; SIGHTLINE_TOKEN/URL/CA override the profile; a revoked key exits 3', async () => {
  const created = await cli(['apikey', 'create', 'ci', '--expires-in-days', '7', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const { key, token } = json<{ key: { id: string }; token: string }>(created);
  const env = { SIGHTLINE_CONFIG_DIR: join(tmp, 'config-none'), SIGHTLINE_URL: s.url, SIGHTLINE_CA: caFile, SIGHTLINE_TOKEN: token };
  const [who, list] = await Promise.all([cli(['whoami', '--json'], { env }), cli(['apikey', 'list'])]);
  assert.equal(who.code, 0, who.stderr);
  assert.equal(json(who)['type'], 'apikey');
  assert.equal(json(who)['name'], 'ci');

  assert.match(list.stdout, new RegExp(`^${key.id} +ci +admin +active`, 'm'));
  assert.ok(!list.stdout.includes(token));
  assert.equal((await cli(['apikey', 'revoke', key.id])).code, 0);
  const revoked = await cli(['whoami'], { env });
  assert.equal(revoked.code, 3);
  assert.match(revoked.stderr, /^error AUTH_INVALID: /);
});

test('network and TLS failures exit 8; a profile others can read is refused', async () => {
  const none = join(tmp, 'config-none');
  const otherCa = join(tmp, 'data', 'ca.pem'); // the CA of the server started in the first test
  const [unreachable, tls, http] = await Promise.all([
    cli(['whoami'], { env: { SIGHTLINE_CONFIG_DIR: none, SIGHTLINE_URL: 'https://127.0.0.1:1', SIGHTLINE_TOKEN: 'sls_x' } }),
    cli(['login', '--url', s.url, '--ca', otherCa, '--user', 'admin', '--password-stdin', '--totp', '000000'], {
      input: 'x\n',
      env: { SIGHTLINE_CONFIG_DIR: none },
    }),
    cli(['login', '--url', s.url.replace('https', 'http'), '--user', 'admin', '--password-stdin'], { env: { SIGHTLINE_CONFIG_DIR: none } }),
  ]);
  assert.equal(unreachable.code, 8);
  assert.match(unreachable.stderr, /^error SERVER_UNREACHABLE: /);
  assert.equal(tls.code, 8);
  assert.match(tls.stderr, /^error TLS_VERIFY_FAILED: /);
  assert.equal(http.code, 2);
  assert.match(http.stderr, /^error URL_INVALID: /);

  chmodSync(join(configDir, 'profiles.json'), 0o644);
  const insecure = await cli(['whoami']);
  assert.equal(insecure.code, 1);
  assert.match(insecure.stderr, /^error PROFILE_INSECURE: .*chmod 600/);
  chmodSync(join(configDir, 'profiles.json'), 0o600);
});

test('logout ends the session and removes the token', async () => {
  const out = await cli(['logout', '--json']);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(json(out)['status'], 'signed-out');
  const who = await cli(['whoami']);
  assert.equal(who.code, 3);
  assert.match(who.stderr, /^error NOT_LOGGED_IN: /);
});
