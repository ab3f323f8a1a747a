import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestServer } from '../../server/test/harness.js';
import { registerDevice, type RegisteredDevice } from '../../server/test/packages-publish.js';
import { json, ROOT, runCliMany, spawnCli, startCliServer, stopCliServer, type Result } from './cli-process.js';

/**
 * `sightline app` against the server harness, with the test acting as the
 * device through the mTLS device API (as the agent would) to drive the
 * deployment's stages. The example's real packages are built, signed and
 * pushed with the CLI, and its real app manifest is deployed.
 */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-app-'));
const MANIFEST = join(ROOT, 'examples/privacy-blur/app-manifest.json');
const PASSPHRASE = 'Curlew-4471-saltmarsh-reed';
const BYTES_TOTAL = 1_534_000;

let s: TestServer;
let env: Record<string, string>;
let edge: RegisteredDevice;
const cliMany = (runs: string[][]): Promise<Result[]> => runCliMany(runs.map((args) => ({ args, env })));
const file = (name: string, value: unknown): string => {
  const path = join(tmp, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
};
const overrides = (): string => file('door.json', { cameras: { camera: 'front-door' }, parameters: { threshold: 0.6 } });

before(async () => {
  ({ s, env } = await startCliServer(tmp));
  env['SIGHTLINE_SIGNING_KEY_PASSPHRASE'] = PASSPHRASE;
  const cam = await s.call(
    'POST',
    '/api/v1/projects/default/cameras',
    { name: 'front-door', url: 'rtsps://cam.example/door' },
    env['SIGHTLINE_TOKEN'],
  );
  assert.equal(cam.status, 201, JSON.stringify(cam.body));
  edge = await registerDevice(s, env['SIGHTLINE_TOKEN'] ?? '', 'edge-1');
  const runs = await cliMany([
    ['signing-key', 'create', 'release'],
    ['package', 'build', join(ROOT, 'examples/privacy-blur'), '--out', join(tmp, 'code'), '--sign-with', 'release'],
    ['package', 'build', join(ROOT, 'examples/privacy-blur/model'), '--out', join(tmp, 'model'), '--sign-with', 'release'],
    ['package', 'push', join(tmp, 'code'), '--progress', 'none'],
    ['package', 'push', join(tmp, 'model'), '--progress', 'none'],
  ]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
});
after(() => stopCliServer(s, tmp));

/** The revision of an instance as the device sees it in its desired state. */
async function revisionOf(instanceId: string): Promise<number> {
  const state = await edge.call<{ apps: { instanceId: string; revision: number }[] }>('GET', '/device/v1/desired-state');
  const app = state.body.apps.find((a) => a.instanceId === instanceId);
  assert.ok(app !== undefined, `instance ${instanceId} is in the device's desired state`);
  return app.revision;
}

/** The device reports on an instance, as the agent does. */
async function report(instanceId: string, body: Record<string, unknown>): Promise<void> {
  const r = await edge.call('POST', `/device/v1/apps/${instanceId}/status`, { revision: await revisionOf(instanceId), ...body });
  assert.equal(r.status, 204, JSON.stringify(r.body));
}

/** Waits (no deadline of its own: the test runner's) until `check` holds, polling what the CLI printed. */
async function until(check: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), what());
}

test('deploy refuses a bad manifest or override with the fault path and exit 7; nothing is deployed', async () => {
  const m = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { nodes: Record<string, unknown>[]; edges: { from: string; to: string }[] };
  const shape = file('shape.json', { ...m, edges: [{ from: 'camera', to: 'Blur.video_in' }, ...m.edges.slice(1)] });
  const missing = file('missing.json', {
    ...m,
    nodes: m.nodes.map((n) => (n['name'] === 'face' ? { ...n, package: 'no-such-model' } : n)),
  });
  const cameraToModel = file('camera-model.json', { ...m, edges: m.edges.map((e, i) => (i === 1 ? { from: 'camera', to: 'face' } : e)) });
  const wrongType = file('wrong-type.json', { cameras: { camera: 'front-door' }, parameters: { threshold: 'high' } });
  const notJson = join(tmp, 'not.json');
  writeFileSync(notJson, '{ nodes: ');
  const faceIndex = m.nodes.findIndex((n) => n['name'] === 'face');
  const [a, b, c, d, e] = (await cliMany([
    ['app', 'deploy', shape, '--device', 'edge-1', '--override', overrides()],
    ['app', 'deploy', missing, '--device', 'edge-1', '--override', overrides()],
    ['app', 'deploy', cameraToModel, '--device', 'edge-1', '--override', overrides()],
    ['app', 'deploy', MANIFEST, '--device', 'edge-1', '--override', wrongType],
    ['app', 'deploy', notJson, '--device', 'edge-1'],
  ])) as [Result, Result, Result, Result, Result];
  // Caught before sending (the shape), and by the server (against the packages), alike.
  assert.equal(a.code, 7, a.stderr);
  assert.match(a.stderr, /^error MANIFEST_INVALID: .*shape\.json: The app manifest is invalid at edges\[0\]\.to: /m);
  assert.equal(b.code, 7, b.stderr);
  assert.match(b.stderr, new RegExp(`^error MANIFEST_INVALID: .*nodes\\[${faceIndex}\\]\\.package: .*no package "no-such-model"`, 'm'));
  assert.equal(c.code, 7, c.stderr);
  assert.match(c.stderr, /^error MANIFEST_INVALID: .*edges\[1\]\.to/m);
  assert.equal(d.code, 7, d.stderr);
  assert.match(d.stderr, /^error MANIFEST_INVALID: .*overrides\.parameters\.threshold: .*must be a number/m);
  assert.equal(e.code, 7, e.stderr);
  assert.match(e.stderr, /^error FILE_INVALID: .*not valid JSON/m);
  const list = await s.call<{ apps: unknown[] }>('GET', '/api/v1/projects/default/apps', undefined, env['SIGHTLINE_TOKEN']);
  assert.deepEqual(list.body.apps, []);
});

test('deploy shows each stage live (downloading as a progress bar) until running; a failed replacement is rolled back (exit 11); ls, describe --follow, pause, resume, rm', async () => {
  const cli = spawnCli(['app', 'deploy', MANIFEST, '--device', 'edge-1', '--override', overrides(), '--progress', 'plain'], env);
  await cli.waitFor(/instance (\S+), revision \d+\.\n/);
  const instance = /instance (\S+), revision/.exec(cli.output().stdout)?.[1] ?? '';
  await cli.waitFor(/ queued\b/);
  await report(instance, { stage: 'downloading', bytesDone: 0, bytesTotal: BYTES_TOTAL });
  await cli.waitFor(/ downloading\b/);
  await report(instance, { stage: 'downloading', bytesDone: BYTES_TOTAL / 2, bytesTotal: BYTES_TOTAL });
  await until(
    () => /^downloading 767\.0 kB \/ 1\.53 MB +50%/m.test(cli.output().stderr),
    () => `a progress line at 50%: ${cli.output().stderr}`,
  );
  await report(instance, { stage: 'downloading', bytesDone: BYTES_TOTAL, bytesTotal: BYTES_TOTAL });
  await report(instance, { stage: 'verifying' });
  await cli.waitFor(/ verifying\b/);
  await report(instance, { stage: 'starting' });
  await report(instance, { stage: 'running', nodes: [{ node: 'blur', state: 'running', restarts: 0, metrics: { faces: 1 } }] });
  const done = await cli.done;
  assert.equal(done.code, 0, done.stderr);
  const stages = done.stdout
    .split('\n')
    .map((l) => /^\S+ {2}(\S+)/.exec(l)?.[1])
    .filter((x) => x !== undefined);
  assert.deepEqual(stages, ['queued', 'downloading', 'verifying', 'starting', 'running']);
  assert.match(done.stdout, new RegExp(`^App privacy-blur is running on device edge-1: instance ${instance}, revision \\d+\\.$`, 'm'));
  assert.match(done.stderr, /^downloading 1\.53 MB {2}100% /m);

  // A replacement that fails verification: rolled back, the first instance keeps running; exit 11 names the stage and reason.
  const replacing = spawnCli(['app', 'deploy', MANIFEST, '--device', 'edge-1', '--override', overrides(), '--replace', instance], env);
  await replacing.waitFor(/ queued\b/);
  const second = /instance (\S+), revision/.exec(replacing.output().stdout)?.[1] ?? '';
  await report(second, { stage: 'downloading', bytesDone: 10, bytesTotal: 10 });
  await report(second, { stage: 'verifying' });
  await replacing.waitFor(/ verifying\b/);
  await report(second, { stage: 'failed', code: 'PACKAGE_SIGNATURE_INVALID', message: 'The package signature does not verify.' });
  const rolled = await replacing.done;
  assert.equal(rolled.code, 11, rolled.stderr);
  assert.match(
    rolled.stderr,
    new RegExp(
      `^error DEPLOY_ROLLED_BACK: The deployment of app privacy-blur on device edge-1 \\(instance ${second}\\) failed at stage verifying \\(PACKAGE_SIGNATURE_INVALID: The package signature does not verify\\..*\\) and was rolled back.*`,
      'm',
    ),
  );
  assert.equal((rolled.stderr.match(new RegExp(`instance ${instance} keeps running`, 'g')) ?? []).length, 1, rolled.stderr);

  // A deployment that fails while starting, followed with describe --follow after --no-wait.
  const [queued] = (await cliMany([
    ['app', 'deploy', MANIFEST, '--device', 'edge-1', '--override', overrides(), '--no-wait', '--json'],
  ])) as [Result];
  assert.equal(queued.code, 0, queued.stderr);
  const third = json<{ instanceId: string; stage: string }>(queued);
  assert.equal(third.stage, 'queued');
  const follow = spawnCli(['app', 'describe', third.instanceId, '--follow'], env);
  await follow.waitFor(/ queued\b/);
  await report(third.instanceId, { stage: 'downloading', bytesDone: 5, bytesTotal: 5 });
  await report(third.instanceId, { stage: 'verifying' });
  await report(third.instanceId, { stage: 'starting' });
  await follow.waitFor(/ starting\b/);
  await report(third.instanceId, { stage: 'failed', code: 'APP_START_FAILED', message: 'blur exited with code 1' });
  const failed = await follow.done;
  assert.equal(failed.code, 11, failed.stderr);
  assert.match(failed.stderr, /^error DEPLOY_FAILED: .* failed at stage starting: APP_START_FAILED: blur exited with code 1\.$/m);

  const [listed, paused, resumed, described, removed, unconfirmed] = (await cliMany([
    ['app', 'ls', '--device', 'edge-1'],
    ['app', 'pause', instance, '--camera', 'front-door', '--json'],
    ['app', 'resume', instance, '--camera', 'front-door'],
    ['app', 'describe', instance],
    ['app', 'rm', instance, '--yes', '--json'],
    ['app', 'rm', third.instanceId],
  ])) as [Result, Result, Result, Result, Result, Result];
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^INSTANCE\s+APP\s+DEVICE\s+STAGE\s+REVISION\s+UPDATED$/m);
  assert.match(listed.stdout, new RegExp(`^${instance}\\s+privacy-blur\\s+edge-1\\s+running\\s`, 'm'));
  assert.match(listed.stdout, new RegExp(`^${second}\\s+privacy-blur\\s+edge-1\\s+rolled-back\\s`, 'm'));
  assert.match(listed.stdout, new RegExp(`^${third.instanceId}\\s+privacy-blur\\s+edge-1\\s+failed\\s`, 'm'));
  assert.equal(paused.code, 0, paused.stderr);
  assert.deepEqual(
    json<{ cameras: { camera: string; paused: boolean }[] }>(paused).cameras.map((c) => [c.camera, c.paused]),
    [['front-door', true]],
  );
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`^Camera front-door resumed for instance ${instance} `, 'm'));
  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, /^stage:\s+running since /m);
  assert.match(described.stdout, /^AT\s+STAGE\s+MESSAGE$/m);
  assert.match(described.stdout, /^\S+Z\s+running\s+-$/m);
  assert.match(described.stdout, /^front-door\s+camera\s+false\s/m);
  assert.match(described.stdout, /^blur\s+code\s+privacy-blur 0\.1\.0\s+running\s+0\s+faces=1/m);
  assert.match(described.stdout, /^parameters:\s+blur\.threshold=0\.6,blur\.tile=false,/m);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(unconfirmed.code, 2, 'rm without a terminal needs --yes');
  const after = await s.call<{ app: { stage: string } }>(
    'GET',
    `/api/v1/projects/default/apps/${instance}`,
    undefined,
    env['SIGHTLINE_TOKEN'],
  );
  assert.equal(after.body.app.stage, 'stopped');
});
