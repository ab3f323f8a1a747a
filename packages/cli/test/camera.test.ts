import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestServer } from '../../server/test/harness.js';
import { json, runCliMany, startCliServer, stopCliServer, type Result } from './cli-process.js';

/** `sightline camera` against the server harness. */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-cam-'));
let s: TestServer;
let env: Record<string, string>;

const PASSWORD = 'heather-Curlew-3391-moss';
const URL_PASSWORD = 'hunter2-Dunlin-7140-spit';

before(async () => {
  ({ s, env } = await startCliServer(tmp));
});
after(() => stopCliServer(s, tmp));

test('camera create with --password-stdin, list with the RTSP warning, CREDENTIALS_IN_URL exit 7, describe, pause, rm', async () => {
  const runs: { args: string[]; input?: string }[] = [
    {
      args: [
        'camera',
        'create',
        'lobby',
        '--url',
        'rtsp://10.0.0.5:554/stream1',
        '--username',
        'viewer',
        '--password-stdin',
        '--description',
        'Lobby',
      ],
      input: `${PASSWORD}\n`,
    },
    { args: ['camera', 'create', 'dock', '--url', 'rtsps://dock.local:322/s', '--json'] },
    { args: ['camera', 'list'] },
    { args: ['camera', 'create', 'leaky', '--url', `rtsp://admin:${URL_PASSWORD}@10.0.0.6/stream`] },
    { args: ['camera', 'create', 'leaky', '--url', `rtsp://10.0.0.6/stream?token=${URL_PASSWORD}`] },
    // Not caught before sending (no host to check locally): the server refuses it with the same code.
    { args: ['camera', 'create', 'leaky', '--url', `file:///clips/a.mp4?api_key=${URL_PASSWORD}`] },
    { args: ['camera', 'create', 'leaky', '--url', 'rtsp://10.0.0.6/stream', '--username', 'admin', '--password', URL_PASSWORD] },
    { args: ['camera', 'create', 'web', '--url', 'http://10.0.0.6/stream'] },
    { args: ['camera', 'describe', 'lobby'] },
    { args: ['camera', 'pause', 'lobby', '--json'] },
    { args: ['camera', 'rm', 'dock'] },
    { args: ['camera', 'rm', 'dock', '--yes'] },
    { args: ['camera', 'list', '--json'] },
  ];
  const [created, createdJson, listed, inUrl, inQuery, fromServer, onCommandLine, http, described, paused, unconfirmed, removed, after] =
    (await runCliMany(runs.map((r) => ({ ...r, env })))) as [
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
      Result,
    ];

  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^Created camera lobby \(rtsp\); credentials: stored in secret camera-lobby\.$/m);
  // The warning goes to stderr, as plain text (no terminal colours).
  assert.match(created.stderr, /^warning RTSP_UNENCRYPTED: camera lobby: .*in clear.*rtsps:\/\//m);
  assert.ok(!created.stderr.includes('\u001b['), 'no escape sequences');
  assert.equal(createdJson.code, 0, createdJson.stderr);
  assert.deepEqual(json(createdJson)['warnings'], []);
  assert.equal(createdJson.stderr, '');

  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^NAME\s+STATE\s+URL\s+CREDENTIALS\s+WARNINGS$/m);
  assert.match(listed.stdout, /^lobby\s+active\s+rtsp:\/\/10\.0\.0\.5:554\/stream1\s+secret camera-lobby\s+RTSP_UNENCRYPTED$/m);
  assert.match(listed.stdout, /^dock\s+active\s+rtsps:\/\/dock\.local:322\/s\s+none\s+-$/m);
  assert.match(listed.stdout, /RTSP_UNENCRYPTED \(lobby\): plain rtsp:\/\/ sends the stream and the credentials in clear/);

  for (const r of [inUrl, inQuery, fromServer]) {
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /^error CREDENTIALS_IN_URL: /);
    assert.match(r.stderr, /--password-stdin/);
    assert.ok(!r.stderr.includes(URL_PASSWORD));
  }
  assert.equal(onCommandLine.code, 2, onCommandLine.stderr);
  assert.match(onCommandLine.stderr, /^error SECRET_ON_COMMAND_LINE: /);
  assert.equal(http.code, 7, http.stderr);
  assert.match(http.stderr, /^error URL_SCHEME_NOT_ALLOWED: url must use one of these schemes: rtsps, rtsp, file\./);

  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, /^credentials:\s+stored in secret camera-lobby$/m);
  assert.match(described.stdout, /^WARNING RTSP_UNENCRYPTED: /m);
  assert.equal(json(paused)['state'], 'paused');
  assert.equal(unconfirmed.code, 2, 'rm without a terminal needs --yes');
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(
    json<{ cameras: { name: string }[] }>(after).cameras.map((c) => c.name),
    ['lobby'],
  );

  // The password went to the secrets store, and no output carried it.
  const secret = await s.call<{ value: unknown }>(
    'POST',
    '/api/v1/projects/default/secrets/camera-lobby/value',
    undefined,
    env['SIGHTLINE_TOKEN'],
  );
  assert.deepEqual(secret.body.value, { username: 'viewer', password: PASSWORD });
  const secrets = await s.call<{ secrets: { name: string }[] }>(
    'GET',
    '/api/v1/projects/default/secrets',
    undefined,
    env['SIGHTLINE_TOKEN'],
  );
  assert.deepEqual(
    secrets.body.secrets.map((x) => x.name),
    ['camera-lobby'],
  );
  for (const r of [
    created,
    createdJson,
    listed,
    inUrl,
    inQuery,
    fromServer,
    onCommandLine,
    http,
    described,
    paused,
    unconfirmed,
    removed,
    after,
  ]) {
    assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD));
    assert.ok(!`${r.stdout}${r.stderr}`.includes(URL_PASSWORD));
  }
});
