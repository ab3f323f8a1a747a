import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleTargetName, packBundle, parseMetadata } from '@sightline/core';
import type { deviceApi } from '@sightline/protocol';
import type { TestServer } from '../../server/test/harness.js';
import { registerDevice, type RegisteredDevice } from '../../server/test/packages-publish.js';
import { json, runCliMany, spawnCli, startCliServer, stopCliServer, type Result } from './cli-process.js';

/**
 * `sightline release` and `sightline device update` against the server
 * harness: offline keys and signing, publish, root rotation, and an update
 * followed live while the test plays the device over mTLS.
 */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-release-'));
const PASSPHRASE = 'Plover-9921-mudflat-sedge';
let s: TestServer;
let env: Record<string, string>;
let edge: RegisteredDevice;
const cliMany = (runs: string[][], extra: Record<string, string> = {}): Promise<Result[]> => runCliMany(runs.map((args) => ({ args, env: { ...env, ...extra } })));

function bundle(version: string): string {
  const file = join(tmp, bundleTargetName(version));
  writeFileSync(file, packBundle({ version, files: [{ path: 'dist/main.js', data: Buffer.from(`// agent ${version}`) }] }));
  return file;
}

before(async () => {
  ({ s, env } = await startCliServer(tmp));
  env['SIGHTLINE_RELEASE_PASSPHRASE'] = PASSPHRASE;
  edge = await registerDevice(s, env['SIGHTLINE_TOKEN'] ?? '', 'edge-1');
});
after(() => stopCliServer(s, tmp));

test('keys init, sign offline, publish, ls; a wrong passphrase or a mismatched version is refused', async () => {
  const keys = join(tmp, 'keys');
  const [init] = await cliMany([['release', 'keys', 'init', '--out', keys]]);
  assert.equal(init?.code, 0, init?.stderr);
  assert.equal(statSync(join(keys, 'root.key')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(keys, 'targets.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
  const b1 = bundle('1.0.0');
  const [wrongPass] = await cliMany([['release', 'sign', b1, '--keys', keys, '--release', '1.0.0', '--security-version', '1', '--out', join(tmp, 'x')]], {
    SIGHTLINE_RELEASE_PASSPHRASE: 'not-the-passphrase-at-all',
  });
  assert.equal(wrongPass?.code, 7);
  assert.match(wrongPass?.stderr ?? '', /RELEASE_KEY_INVALID/);
  const [mismatch, sign, publish, ls] = await cliMany([
    ['release', 'sign', b1, '--keys', keys, '--release', '1.0.1', '--security-version', '1', '--out', join(tmp, 'y')],
    ['release', 'sign', b1, '--keys', keys, '--release', '1.0.0', '--security-version', '1', '--required', '--out', join(tmp, 'signed-1')],
    ['release', 'publish', join(tmp, 'signed-1')],
    ['release', 'ls', '--json'],
  ]);
  assert.equal(mismatch?.code, 7);
  assert.match(mismatch?.stderr ?? '', /BUNDLE_INVALID/);
  assert.equal(sign?.code, 0, sign?.stderr);
  assert.equal(publish?.code, 0, publish?.stderr);
  assert.match(publish?.stdout ?? '', /Published targets version 1: 1\.0\.0/);
  const l = json<{ releases: { version: string; securityVersion: number; required: boolean }[]; root: { version: number } }>(ls ?? { code: 0, stdout: '{}', stderr: '' });
  assert.deepEqual(l.releases.map((r) => [r.version, r.securityVersion, r.required]), [['1.0.0', 1, true]]);
  assert.equal(l.root.version, 1);

  // Rotation: root 2 is signed by the old and the new root key; the server accepts the chain.
  const keys2 = join(tmp, 'keys-2');
  const [rotate, ls2] = await cliMany([['release', 'keys', 'rotate', '--keys', keys, '--new-keys', keys2], ['release', 'ls', '--json']]);
  assert.equal(rotate?.code, 0, rotate?.stderr);
  const root2 = parseMetadata('root', readFileSync(join(keys2, 'root.json')));
  assert.deepEqual([root2.signed.version, Object.keys(root2.signatures).length], [2, 2]);
  assert.equal(json<{ root: { version: number } }>(ls2 ?? { code: 0, stdout: '{}', stderr: '' }).root.version, 2);
  // The new folder signs the next release (targets key copied, targets.json carried over).
  const [sign2, publish2] = await cliMany([
    ['release', 'sign', bundle('1.1.0'), '--keys', keys2, '--release', '1.1.0', '--security-version', '2', '--out', join(tmp, 'signed-2')],
    ['release', 'publish', join(tmp, 'signed-2')],
  ]);
  assert.equal(sign2?.code, 0, sign2?.stderr);
  assert.equal(publish2?.code, 0, publish2?.stderr);
});

async function jobOf(version: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const state = await edge.call<deviceApi.DesiredState>('GET', '/device/v1/desired-state');
    const job = state.body.jobs.find((j) => j.kind === 'update' && j.params?.version === version);
    if (job !== undefined) return job.id;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no update job reached the device');
}

test('device update follows each stage live and exits 0 on commit; a revert exits 11 with the reason', async () => {
  const cli = spawnCli(['device', 'update', 'edge-1', '--release', '1.1.0'], env);
  const id = await jobOf('1.1.0');
  await cli.waitFor(/edge-1 {2}queued/);
  const report = (body: deviceApi.JobUpdateRequest): Promise<unknown> => edge.call('POST', `/device/v1/jobs/${id}`, body);
  await report({ status: 'running', stage: 'downloading', bytesDone: 0, bytesTotal: 4000 });
  await cli.waitFor(/edge-1 {2}downloading {2}0 B \/ 4\.00 kB/);
  for (const stage of ['verifying', 'installing', 'rebooting', 'health-check'] as const) {
    await report({ status: 'running', stage });
    await cli.waitFor(new RegExp(`edge-1 {2}${stage}`));
  }
  await report({ status: 'succeeded', message: 'committed in slot b' });
  const done = await cli.done;
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /edge-1 {2}committed {2}committed in slot b/);

  const failing = spawnCli(['device', 'update', '--all', '--release', '1.1.0'], env);
  const id2 = await jobOf('1.1.0');
  await failing.waitFor(/edge-1 {2}queued/);
  await edge.call('POST', `/device/v1/jobs/${id2}`, { status: 'running', stage: 'health-check' });
  await edge.call('POST', `/device/v1/jobs/${id2}`, { status: 'failed', message: 'reverted: health check did not pass within 120 s' });
  const r = await failing.done;
  assert.equal(r.code, 11, r.stderr);
  assert.match(r.stdout, /edge-1 {2}reverted {2}reverted: health check/);
  assert.match(r.stderr, /UPDATE_FAILED/);
});
