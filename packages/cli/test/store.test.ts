import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestServer } from '../../server/test/harness.js';
import { artifactFiles, upload } from '../../server/test/artifacts-transfer.js';
import { parseTime } from '../src/commands/logs.js';
import { Progress } from '../src/output/progress.js';
import { json, runCliMany, spawnCli, startCliServer, stopCliServer, type Result } from './cli-process.js';

/** `sightline secret`, `logs` and `artifact` against the server harness; each test runs its commands in one process. */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-store-'));
let s: TestServer;
let env: Record<string, string>;
let token: string;
const cliMany = (runs: (string[] | { args: string[]; input?: string; env?: Record<string, string> })[]): Promise<Result[]> =>
  runCliMany(runs.map((r) => (Array.isArray(r) ? { args: r, env } : { args: r.args, env: r.env ?? env, input: r.input ?? '' })));

before(async () => {
  ({ s, env } = await startCliServer(tmp));
  token = env['SIGHTLINE_TOKEN'] ?? '';
});
after(() => stopCliServer(s, tmp));

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('secret create from stdin or a file, never the command line; describe shows no value; get needs --reveal and MFA (an API key is refused)', async () => {
  const apiKey = await s.call<{ token: string }>('POST', '/api/v1/apikeys', { name: 'ci', expiresInDays: 7 }, token);
  assert.equal(apiKey.status, 201, JSON.stringify(apiKey.body));
  const apiEnv = { ...env, SIGHTLINE_TOKEN: apiKey.body.token };
  const file = join(tmp, 'new-token.txt');
  writeFileSync(file, 'tok-Rotated-2\n');
  const results = await cliMany([
    {
      args: ['secret', 'create', 'cam-01', '--username', 'viewer', '--password-stdin', '--description', 'lobby camera'],
      input: 'pw-Lobby-7781\n',
    },
    { args: ['secret', 'create', 'token-1', '--value-stdin', '--json'], input: 'tok-Original-1\n' },
    ['secret', 'create', 'leaky', '--value', 'on-the-command-line'],
    ['secret', 'create', 'nothing'],
    ['secret', 'describe', 'cam-01', '--json'],
    ['secret', 'list'],
    ['secret', 'get', 'cam-01'],
    ['secret', 'get', 'cam-01', '--reveal', '--json'],
    ['secret', 'get', 'token-1', '--reveal'],
    { args: ['secret', 'get', 'token-1', '--reveal'], env: apiEnv },
    ['secret', 'rotate', 'token-1', '--file', file],
    ['secret', 'get', 'token-1', '--reveal'],
    ['secret', 'rm', 'token-1'],
    ['secret', 'rm', 'token-1', '--yes'],
    ['secret', 'describe', 'token-1'],
  ]);
  const [
    created,
    createdJson,
    leaky,
    nothing,
    described,
    listed,
    noReveal,
    revealed,
    plain,
    apiKeyRead,
    rotated,
    afterRotate,
    rmNoYes,
    rm,
    gone,
  ] = results as [Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result];
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^Created secret cam-01 \(version 1, encrypted under service secrets key\)\.$/m);
  assert.equal(json(createdJson)['version'], 1);
  assert.equal(leaky.code, 2);
  assert.match(leaky.stderr, /^error SECRET_ON_COMMAND_LINE: Secret values are never taken on the command line/);
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /^error USAGE: Give the value with --value-stdin/);

  assert.equal(described.code, 0, described.stderr);
  const d = json(described);
  assert.equal(d['name'], 'cam-01');
  assert.equal(d['description'], 'lobby camera');
  assert.ok(!('value' in d));
  assert.match(listed.stdout, /^NAME +VERSION +KEY +ROTATED +DESCRIPTION$/m);
  assert.match(listed.stdout, /^token-1 +1 +service secrets key +- +-$/m);

  assert.equal(noReveal.code, 2);
  assert.match(noReveal.stderr, /^error REVEAL_REQUIRED: .*add --reveal/);
  assert.equal(revealed.code, 0, revealed.stderr);
  assert.deepEqual(json(revealed), { name: 'cam-01', version: 1, value: { username: 'viewer', password: 'pw-Lobby-7781' } });
  assert.equal(plain.stdout, 'tok-Original-1', 'piped: the value exactly, the final newline of the input dropped');
  assert.equal(plain.stderr, '');

  assert.equal(apiKeyRead.code, 3);
  assert.match(
    apiKeyRead.stderr,
    /^error MFA_REQUIRED_FOR_SECRET: Secret values are shown only to a person .*never to an API key.*SIGHTLINE_TOKEN is set/,
  );
  assert.equal(apiKeyRead.stdout, '');

  assert.match(rotated.stdout, /^Rotated secret token-1: now version 2\.$/m);
  assert.equal(afterRotate.stdout, 'tok-Rotated-2');
  assert.equal(rmNoYes.code, 2);
  assert.match(rmNoYes.stderr, /^error CONFIRMATION_REQUIRED: Delete secret token-1: .*pass --yes/);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(gone.code, 5);
  assert.match(gone.stderr, /^error SECRET_NOT_FOUND: /);

  // Values reach stdout of the reads that reveal them, and nowhere else.
  const others = results.filter((r) => r !== revealed && r !== plain && r !== afterRotate);
  for (const r of others) assert.doesNotMatch(r.stdout + r.stderr, /pw-Lobby-7781|tok-Original-1|tok-Rotated-2/);
  for (const r of results) assert.doesNotMatch(r.stderr, /pw-Lobby-7781|tok-Original-1|tok-Rotated-2/);
});

test('logs: groups, streams, tail --json, query --grep/--limit; tail --follow prints new lines and stops cleanly on Ctrl-C', async () => {
  assert.equal((await s.call('POST', '/api/v1/projects/default/log-groups', { name: 'app' }, token)).status, 201);
  const t = (offsetMs: number): string => new Date(s.clock.now() - offsetMs).toISOString();
  const ingest = async (stream: string, events: unknown[]): Promise<void> => {
    const res = await s.call('POST', `/api/v1/projects/default/log-groups/app/streams/${stream}/events`, { events }, token);
    assert.equal(res.status, 201, JSON.stringify(res.body));
  };
  await ingest('web', [
    { time: t(3000), message: 'GET /health 200' },
    { time: t(2000), message: 'upstream timeout after 5 s', level: 'warn', fields: { ms: 5000 } },
  ]);
  await ingest('worker', [
    { time: t(1500), message: 'job 41 done' },
    { time: t(1000), message: 'job 42 timeout', level: 'error' },
  ]);

  const follow = spawnCli(['logs', 'tail', 'app', '--follow', '--since', '1h'], env);
  const [results] = await Promise.all([
    cliMany([
      ['logs', 'create-group', 'ops', '--retention-days', '7', '--description', 'ops logs'],
      ['logs', 'update-group', 'ops', '--retention-days', '14', '--json'],
      ['logs', 'update-group', 'ops'],
      ['logs', 'groups'],
      ['logs', 'streams', 'app', '--json'],
      ['logs', 'tail', 'app', '--json'],
      ['logs', 'tail', 'app', '--stream', 'worker'],
      ['logs', 'query', 'app', '--since', '1h', '--grep', 'timeout', '--json'],
      ['logs', 'query', 'app', '--since', '1h', '--limit', '1'],
      ['logs', 'query', 'app'],
      ['logs', 'tail', 'nope'],
      ['logs', 'tail', 'app', '--since', 'yesterday'],
    ]),
    follow.waitFor(/job 42 timeout/),
  ]);
  // Caught up and waiting on the server: a new batch shows up at once, then Ctrl-C ends the follow.
  await ingest('web', [{ time: t(0), message: 'arrived while following' }]);
  await follow.waitFor(/arrived while following/);
  follow.child.kill('SIGINT');
  const [created, updated, noChange, groups, streams, tail, tailWorker, grep, limited, noSince, missing, badSince] = results as [
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
  assert.match(created.stdout, /^Created log group ops \(service logs key, retention 7 days\)\.$/m);
  assert.equal(json(updated)['retentionDays'], 14);
  assert.equal(noChange.code, 2);
  assert.match(noChange.stderr, /^error USAGE: Nothing to change/);
  assert.match(groups.stdout, /^NAME +RETENTION +KEY +DESCRIPTION$/m);
  assert.match(groups.stdout, /^ops +14d +service logs key +ops logs$/m);
  assert.deepEqual(
    json<{ streams: { name: string }[] }>(streams)
      .streams.map((x) => x.name)
      .sort(),
    ['web', 'worker'],
  );

  assert.equal(tail.code, 0, tail.stderr);
  const lines = tail.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { stream: string; message: string; level?: string; fields?: unknown });
  assert.deepEqual(
    lines.map((e) => e.message),
    ['GET /health 200', 'upstream timeout after 5 s', 'job 41 done', 'job 42 timeout'],
  );
  assert.deepEqual(lines[1], { time: t(2000), stream: 'web', message: 'upstream timeout after 5 s', level: 'warn', fields: { ms: 5000 } });
  assert.match(tailWorker.stdout, /^\S+Z worker job 41 done\n\S+Z worker ERROR job 42 timeout\n$/);

  assert.deepEqual(
    json<{ events: { message: string }[]; limitReached: boolean }>(grep).events.map((e) => e.message),
    ['upstream timeout after 5 s', 'job 42 timeout'],
  );
  assert.equal(json(grep)['limitReached'], false);
  assert.equal(limited.stdout.trim().split('\n').length, 1);
  assert.match(limited.stderr, /Stopped at --limit 1 events/);
  assert.equal(noSince.code, 2);
  assert.match(noSince.stderr, /--since/);
  assert.equal(missing.code, 5);
  assert.match(missing.stderr, /^error LOG_GROUP_NOT_FOUND: /);
  assert.equal(badSince.code, 2);
  assert.match(badSince.stderr, /^error USAGE: .*duration ago/);

  const followed = await follow.done;
  assert.equal(followed.code, 0, followed.stderr);
  assert.equal(followed.stderr, '');
  assert.match(followed.stdout, /job 42 timeout\n.*web arrived while following\n$/);
});

test('artifact put streams with progress and a SHA-256; get returns it byte for byte; a tampered download fails and leaves no file', async () => {
  // A stored object whose last segment is then corrupted: the server can only find out mid-transfer.
  const tampered = randomBytes(3 * 1024 * 1024);
  const up = await upload({ port: s.port, ca: s.ca, token }, '/api/v1/projects/default/artifacts/bad/blob.bin', tampered);
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const [object] = artifactFiles(s.dataDir).objects;
  assert.ok(object !== undefined);
  const fd = openSync(object, 'r+');
  const at = statSync(object).size - 100;
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, at);
  writeSync(fd, Buffer.from([byte[0]! ^ 0x01]), 0, 1, at);
  closeSync(fd);

  const big = randomBytes(5 * 1024 * 1024);
  const bigFile = join(tmp, 'model.bin');
  writeFileSync(bigFile, big);
  const notesFile = join(tmp, 'notes.txt');
  writeFileSync(notesFile, 'release notes\n');
  const dl = join(tmp, 'dl');
  const badDl = join(tmp, 'bad-dl');
  mkdirSync(dl);
  mkdirSync(badDl);

  const [put, again, putNotes, ls, lsPrefix, get, exists, toStdout, broken, rmNoYes, rm, missing] = (await cliMany([
    ['artifact', 'put', bigFile, 'models/blazeface/1.0.0.bin', '--progress', 'plain', '--json'],
    ['artifact', 'put', bigFile, 'models/blazeface/1.0.0.bin'],
    ['artifact', 'put', notesFile, 'notes/readme.txt'],
    ['artifact', 'ls', '--json'],
    ['artifact', 'ls', '--prefix', 'models/'],
    ['artifact', 'get', 'models/blazeface/1.0.0.bin', '--out', `${dl}/`, '--progress', 'plain'],
    ['artifact', 'get', 'models/blazeface/1.0.0.bin', '--out', join(dl, '1.0.0.bin')],
    ['artifact', 'get', 'notes/readme.txt', '--out', '-'],
    ['artifact', 'get', 'bad/blob.bin', '--out', join(badDl, 'blob.bin')],
    ['artifact', 'rm', 'notes/readme.txt'],
    ['artifact', 'rm', 'notes/readme.txt', '--yes'],
    ['artifact', 'get', 'models/nope.bin', '--out', join(badDl, 'nope.bin')],
  ])) as [Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result];

  assert.equal(put.code, 0, put.stderr);
  const view = json<{ name: string; size: number; sha256: string }>(put);
  assert.deepEqual([view.name, view.size, view.sha256], ['models/blazeface/1.0.0.bin', big.length, sha(big)]);
  // --progress plain: a line each time another 10 % is done (1 MiB reads: every 20 % here), then the summary.
  const percents = (label: string): number[] =>
    [...put.stderr.matchAll(new RegExp(`^${label} +\\S+ MB \\/ 5.24 MB +(\\d+)% +[\\d.]+ MB\\/s +ETA \\S+$`, 'gm'))].map((m) =>
      Number(m[1]),
    );
  for (const label of ['hashing', 'uploading']) {
    const p = percents(label);
    assert.ok(p.length >= 4 && p.length <= 9, put.stderr);
    assert.ok(
      p.every((x, i) => x >= 10 && x < 100 && (i === 0 || x >= (p[i - 1] ?? 0) + 10)),
      put.stderr,
    );
  }
  assert.match(put.stderr, /^hashing +5.24 MB +100% +[\d.]+ MB\/s +in [\d.]+ s\nuploading /m);
  assert.match(put.stderr, /^uploading +5.24 MB +100% +[\d.]+ MB\/s +in [\d.]+ s\n$/m);
  assert.equal(again.code, 6);
  assert.match(again.stderr, /^error ALREADY_EXISTS: Artifact models\/blazeface\/1.0.0.bin already exists; add --overwrite/);
  assert.equal(putNotes.code, 0, putNotes.stderr);
  assert.match(putNotes.stderr, /^uploading +14 B +100%/m, 'not a terminal: a summary line only');
  assert.deepEqual(
    json<{ artifacts: { name: string }[] }>(ls).artifacts.map((a) => a.name),
    ['bad/blob.bin', 'models/blazeface/1.0.0.bin', 'notes/readme.txt'],
  );
  assert.match(lsPrefix.stdout, /^NAME +BYTES +SHA256 +CREATED\nmodels\/blazeface\/1.0.0.bin +5242880 /);
  assert.doesNotMatch(lsPrefix.stdout, /notes/);

  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /to .*1\.0\.0\.bin: 5242880 bytes, SHA-256 verified\.$/m);
  assert.match(get.stderr, /^downloading +\S+ MB \/ 5.24 MB +\d0%.*\n(.*\n)*downloading +5.24 MB +100%/m);
  assert.ok(readFileSync(join(dl, '1.0.0.bin')).equals(big), 'byte-identical');
  assert.deepEqual(readdirSync(dl), ['1.0.0.bin'], 'no temporary file left');
  assert.equal(exists.code, 6);
  assert.match(exists.stderr, /^error FILE_EXISTS: .*--overwrite/);
  assert.equal(toStdout.code, 0, toStdout.stderr);
  assert.equal(toStdout.stdout, 'release notes\n');

  assert.notEqual(broken.code, 0);
  assert.match(
    broken.stderr,
    /^error DOWNLOAD_INCOMPLETE: The download of bad\/blob.bin broke after \d+ of 3145728 bytes .*; nothing was written to /,
  );
  assert.deepEqual(readdirSync(badDl), [], 'a failed download leaves no file, partial or temporary');

  assert.equal(rmNoYes.code, 2);
  assert.match(rmNoYes.stderr, /^error CONFIRMATION_REQUIRED: Delete artifact notes\/readme.txt/);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(missing.code, 5);
  assert.match(missing.stderr, /^error ARTIFACT_NOT_FOUND: /);
  assert.deepEqual(readdirSync(badDl), []);
});

const rootOnly = process.getuid?.() === 0 ? false : 'mounting a small tmpfs needs root';
test(
  'artifact get into a folder that fills up mid-download: FILE_UNWRITABLE naming the cause, nothing left behind',
  { skip: rootOnly },
  async () => {
    const blob = randomBytes(3 * 1024 * 1024);
    const up = await upload({ port: s.port, ca: s.ca, token }, '/api/v1/projects/default/artifacts/full/blob.bin', blob);
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const small = join(tmp, 'small-fs');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const [got] = await cliMany([['artifact', 'get', 'full/blob.bin', '--out', join(small, 'blob.bin')]]);
      assert.notEqual(got?.code, 0);
      // The file side failed first (no space), not the download: the error says so.
      assert.match(got?.stderr ?? '', /^error FILE_UNWRITABLE: Cannot write .*blob\.bin: ENOSPC/);
      assert.deepEqual(readdirSync(small), [], 'no partial or temporary file left');
    } finally {
      execFileSync('umount', [small]);
    }
  },
);

test('--since parsing and the progress display (a redrawn line on a terminal, a line per 10 % with --progress plain)', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  assert.equal(parseTime('10m', now), now - 600_000);
  assert.equal(parseTime('2d', now), now - 2 * 86_400_000);
  assert.equal(parseTime('2026-02-28T08:00:00Z', now), Date.parse('2026-02-28T08:00:00Z'));
  assert.equal(parseTime('2026-02-28', now), Date.parse('2026-02-28T00:00:00Z'));
  for (const bad of ['10', 'yesterday', '1y', '2026-13-45T00:00:00Z']) assert.throws(() => parseTime(bad, now), /duration ago/);

  const capture = (isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } => {
    let text = '';
    const stream = { isTTY, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
    return { stream, text: () => text };
  };
  let t = 0;
  const tty = capture(true);
  const bar = new Progress('uploading', 10_000_000, { mode: 'auto', stream: tty.stream, now: () => t });
  t = 1000;
  bar.update(2_000_000);
  t = 1050;
  bar.update(2_500_000); // within 100 ms of the last redraw: not drawn
  t = 2000;
  bar.update(4_000_000);
  t = 5000;
  bar.done();
  assert.equal(
    tty.text(),
    '\ruploading 2.00 MB / 10.0 MB   20%  2.0 MB/s  ETA 0:04\u001b[K' +
      '\ruploading 4.00 MB / 10.0 MB   40%  2.0 MB/s  ETA 0:03\u001b[K' +
      '\ruploading 10.0 MB / 10.0 MB  100%  2.0 MB/s  in 0:05\u001b[K\n',
  );
  t = 0;
  const plain = capture(false);
  const lines = new Progress('hashing', 1000, { mode: 'plain', stream: plain.stream, now: () => t });
  for (const n of [50, 100, 150, 350, 999]) lines.update(n);
  lines.done();
  assert.deepEqual(
    plain
      .text()
      .split('\n')
      .map((l) => /(\d+)%/.exec(l)?.[1]),
    ['10', '35', '99', '100', undefined],
  );
  t = 0;
  const quiet = capture(false);
  const auto = new Progress('downloading', 1000, { mode: 'auto', stream: quiet.stream, now: () => t });
  auto.update(500);
  assert.equal(quiet.text(), '', 'not a terminal: nothing until done');
  t = 2000;
  auto.done();
  assert.equal(quiet.text(), 'downloading 1.00 kB  100%  0.0 MB/s  in 2.0 s\n');
});
