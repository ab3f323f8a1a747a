import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePackageSigningKey, loadPackageSigningKey } from '@sightline/core';
import type { appsApi } from '@sightline/protocol';
import { permissionModelLauncher } from '../src/apps/launcher.js';
import { AppManager } from '../src/apps/manager.js';
import { gstreamerAvailable, startCameraSimulator } from '../src/camera/simulator/simulator.js';
import { systemClock } from '../src/clock.js';
import { DeviceClient } from '../src/client/device-client.js';
import { ControlPlaneFetcher } from '../src/client/control-plane-fetcher.js';
import { AgentLogger } from '../src/logs/logger.js';
import { OutputHub } from '../src/output/hub.js';
import { jpegLength } from '../src/output/jpeg.js';
import { LocalOutputServer } from '../src/output/server.js';
import { PAN_MESSI, exampleDescriptor, firstBlob, privacyBlurApp, privacyBlurPackages, signedPackage } from './helpers/app-packages.js';
import { getLocal as get } from './helpers/local-output.js';
import { FakeControlPlane, waitFor } from './helpers/fake-control-plane.js';
import { grepDir } from './helpers/grep.js';

/**
 * App deployments on the appliance against a control plane over real mTLS:
 * signed packages downloaded into the encrypted cache, verified, started in
 * real processes (the example privacy-blur app and BlazeFace in a model
 * runner), fed by real ffmpeg, reported stage by stage; the MJPEG output;
 * and the ways a deployment must fail closed.
 */

const tmp = mkdtempSync(join(tmpdir(), 'sl-apps-'));
const DEVICE = 'cam-box-1';
const signer = generatePackageSigningKey();
const key = loadPackageSigningKey(signer.privateKeyPem);
let cp: FakeControlPlane;
let client: DeviceClient;
let pkgs: Awaited<ReturnType<typeof privacyBlurPackages>>;
const managers: AppManager[] = [];
const agentLines: string[] = [];

before(async () => {
  cp = await FakeControlPlane.start();
  await cp.provision(DEVICE);
  client = new DeviceClient(new ControlPlaneFetcher(await cp.operationalIdentity(DEVICE)));
  pkgs = await privacyBlurPackages(cp, key, join(tmp, 'build'));
});
after(async () => {
  for (const m of managers) await m.close();
  client.close();
  await cp.close();
  rmSync(tmp, { recursive: true, force: true });
});

function manager(name: string, hub = new OutputHub()): { m: AppManager; dataDir: string; runRoot: string; hub: OutputHub } {
  const dataDir = join(tmp, name, 'data');
  const runRoot = join(tmp, name, 'run');
  const m = new AppManager({
    client: () => client,
    clock: systemClock,
    logger: new AgentLogger({ clock: systemClock, sink: (l) => agentLines.push(l) }),
    dataDir,
    runRoot,
    key: randomBytes(32),
    launcher: permissionModelLauncher(),
    hub,
    statusIntervalMs: 500,
    reportIntervalMs: 200,
  });
  managers.push(m);
  return { m, dataDir, runRoot, hub };
}

const reports = (instanceId: string): appsApi.AppStatusReport[] =>
  cp.appStatus.filter((r) => r.instanceId === instanceId).map((r) => r.body);
const last = (instanceId: string): appsApi.AppStatusReport | undefined => reports(instanceId).at(-1);
const ended = (id: string, revision: number) => (): boolean => {
  const r = last(id);
  return r !== undefined && r.revision === revision && ['running', 'failed'].includes(r.stage);
};
const blobGets = (): number => cp.requests.filter((r) => r.startsWith('GET /device/v1/packages/blobs/')).length;

function ffprobe(jpeg: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', '-i', 'pipe:0']);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => resolve(out.trim()));
    p.stdin.on('error', () => undefined);
    p.stdin.end(jpeg);
  });
}

test('a signed app is downloaded, verified, started and reported running; its output is MJPEG behind a token; a redeploy downloads nothing', async () => {
  const { m, dataDir, hub } = manager('happy');
  const app = privacyBlurApp({ instanceId: 'inst-happy', revision: 1, code: pkgs.code, model: pkgs.model, trustedKeyIds: [signer.keyId] });
  const gets = blobGets();
  await m.apply([app], 'verified');
  await waitFor(ended('inst-happy', 1), 120_000, 'the deployment to end');
  const rs = reports('inst-happy');
  assert.equal(last('inst-happy')?.stage, 'running', JSON.stringify(last('inst-happy')));
  assert.deepEqual(
    [...new Set(rs.map((r) => r.stage))],
    ['queued', 'downloading', 'verifying', 'starting', 'running'],
    'every stage is reported, in order',
  );
  const total = pkgs.bundle.length + pkgs.onnx.length;
  const dl = rs.filter((r) => r.stage === 'downloading');
  assert.equal(dl.at(-1)?.bytesTotal, total);
  assert.equal(dl.at(-1)?.bytesDone, total);
  assert.equal(blobGets() - gets, 2, 'two blobs fetched');
  // The cache holds them encrypted: neither file's bytes are on disk in the clear.
  assert.deepEqual(grepDir(join(dataDir, 'packages'), [pkgs.bundle.subarray(1000, 1064), pkgs.onnx.subarray(5000, 5064)]), []);

  // Frames flow: the app counts them and the camera reports connected.
  await waitFor(
    () => (last('inst-happy')?.nodes?.[0]?.metrics?.frames ?? 0) > 0 && last('inst-happy')?.cameras?.[0]?.state === 'connected',
    120_000,
    'frames through the app',
  );
  const status = last('inst-happy');
  assert.equal(status?.cameras?.[0]?.camera, 'door');
  assert.equal(status?.nodes?.[0]?.node, 'blur');
  assert.equal(status?.nodes?.[0]?.state, 'running');
  assert.ok((status?.nodes?.[0]?.metrics?.faces ?? 0) > 0, 'BlazeFace finds the face in pan-messi');

  // MJPEG over HTTPS: refused without the token, multipart JPEG with it.
  const token = randomBytes(32).toString('base64url');
  const tls = await import('./helpers/pki.js').then(async (pki) =>
    pki.issue(await pki.createCa('local'), { commonName: 'local', usage: 'server' }),
  );
  const server = await LocalOutputServer.start({
    port: 0,
    host: '127.0.0.1',
    certPem: tls.certPem,
    keyPem: tls.keyPem,
    token,
    hub,
    ffmpegPath: 'ffmpeg',
  });
  try {
    const path = '/apps/inst-happy/outputs/out.mjpeg';
    assert.equal((await get(server.port, path, {})).status, 401);
    assert.equal((await get(server.port, path, { authorization: `Bearer ${'x'.repeat(43)}` })).status, 401);
    assert.equal((await get(server.port, '/apps/inst-happy/outputs/nope.mjpeg', { authorization: `Bearer ${token}` })).status, 404);
    const index = await get(server.port, '/', { authorization: `Bearer ${token}` });
    assert.deepEqual(JSON.parse(index.body.toString()), { outputs: [{ instanceId: 'inst-happy', node: 'out', path }] });
    assert.equal((await get(server.port, '/', {})).status, 401);
    const res = await get(server.port, path, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);
    assert.match(res.type, /^multipart\/x-mixed-replace; boundary=sightline-frame$/);
    const parts = res.body.toString('latin1').split('--sightline-frame\r\n').slice(1);
    assert.ok(parts.length >= 2, `at least two parts (got ${parts.length})`);
    const first = parts[0] ?? '';
    const len = Number(/Content-Length: (\d+)/.exec(first)?.[1]);
    const jpeg = Buffer.from(first.slice(first.indexOf('\r\n\r\n') + 4), 'latin1').subarray(0, len);
    assert.equal(jpegLength(jpeg), len, 'a whole JPEG, SOI to EOI, of the declared length');
    assert.equal(await ffprobe(jpeg), 'mjpeg,640,480');
  } finally {
    await server.close();
  }

  // App logs: shipped under the instance's own stream.
  await waitFor(
    () => cp.logs.some((l) => l.body.stream === 'app-inst-happy' && JSON.stringify(l.body).includes('privacy-blur started')),
    30_000,
    'app logs shipped',
  );

  // Redeploy (new parameter): nothing downloaded again, the old process gone once the new one runs.
  const oldPids = m.list()[0]?.pids ?? [];
  assert.equal(oldPids.length, 1);
  const gets2 = blobGets();
  await m.apply([{ ...app, revision: 2, parameters: { blur: { threshold: 0.6 } } }], 'verified');
  await waitFor(ended('inst-happy', 2), 120_000, 'the redeploy to end');
  assert.equal(last('inst-happy')?.stage, 'running');
  assert.equal(blobGets(), gets2, 'cached blobs are not fetched again');
  const newPids = m.list()[0]?.pids ?? [];
  assert.notDeepEqual(newPids, oldPids);
  assert.throws(() => process.kill(oldPids[0] ?? -1, 0), 'the old process has exited');

  // Pause and resume the camera in place: no redeploy, the same process, the camera reported paused then connected.
  const paused = {
    ...app,
    revision: 3,
    parameters: { blur: { threshold: 0.6 } },
    cameras: app.cameras.map((c) => ({ ...c, paused: true })),
  };
  assert.deepEqual(
    (await m.apply([paused], 'verified')).map((s) => s.kind),
    ['pause', 'adopt'],
  );
  await waitFor(() => last('inst-happy')?.revision === 3 && last('inst-happy')?.cameras?.[0]?.state === 'paused', 30_000, 'paused');
  assert.deepEqual(m.list()[0]?.pids, newPids);
  assert.deepEqual(
    (await m.apply([{ ...paused, revision: 4, cameras: app.cameras }], 'verified')).map((s) => s.kind),
    ['resume', 'adopt'],
  );
  await waitFor(() => last('inst-happy')?.revision === 4 && last('inst-happy')?.cameras?.[0]?.state === 'connected', 60_000, 'resumed');

  // Removal: stopped and reported.
  await m.apply([], 'verified');
  await waitFor(() => last('inst-happy')?.stage === 'stopped', 30_000, 'stopped report');
  assert.throws(() => process.kill(newPids[0] ?? -1, 0));
});

test('a tampered blob (other bytes, or more than declared) fails PACKAGE_FILE_INVALID and nothing starts', async () => {
  for (const [i, tamper] of [
    (b: Buffer) => Buffer.concat([b.subarray(0, 10), Buffer.from('!'), b.subarray(11)]),
    (b: Buffer) => Buffer.concat([b, Buffer.from('x')]),
  ].entries()) {
    const { m } = manager(`tampered-${i}`);
    const body = Buffer.from(`export default 1; // ${i} ${randomBytes(8).toString('hex')}\n`.repeat(50));
    const code = signedPackage(cp, key, {
      kind: 'code',
      name: 'privacy-blur',
      version: '0.1.0',
      descriptor: exampleDescriptor(),
      files: { 'app.mjs': body },
    });
    const sha = firstBlob(code);
    cp.blobs.set(sha, tamper(body));
    const id = `inst-tampered-${i}`;
    await m.apply([privacyBlurApp({ instanceId: id, revision: 1, code, model: pkgs.model })], 'verified');
    await waitFor(ended(id, 1), 60_000, 'the deployment to fail');
    assert.equal(last(id)?.stage, 'failed');
    assert.equal(last(id)?.code, 'PACKAGE_FILE_INVALID', last(id)?.message);
    assert.ok(!reports(id).some((r) => r.stage === 'starting'), 'never reached starting');
    assert.deepEqual(m.list()[0]?.pids, []);
  }
});

test('a package signed by a key the project does not trust fails PACKAGE_SIGNER_UNTRUSTED before any download', async () => {
  const { m } = manager('untrusted');
  const gets = blobGets();
  const app = privacyBlurApp({
    instanceId: 'inst-untrusted',
    revision: 1,
    code: pkgs.code,
    model: pkgs.model,
    trustedKeyIds: ['0123456789abcdef'],
  });
  await m.apply([app], 'verified');
  await waitFor(ended('inst-untrusted', 1), 30_000, 'the deployment to fail');
  assert.equal(last('inst-untrusted')?.code, 'PACKAGE_SIGNER_UNTRUSTED');
  assert.equal(blobGets(), gets, 'nothing downloaded');
  // A changed manifest under the old signature: PACKAGE_SIGNATURE_INVALID.
  const forged = {
    ...pkgs.code,
    manifestB64: Buffer.from(Buffer.from(pkgs.code.manifestB64, 'base64').toString().replace('0.1.0', '0.1.1')).toString('base64'),
  };
  await m.apply([{ ...app, revision: 2, trustedKeyIds: [], code: [{ node: 'blur', package: forged }] }], 'verified');
  await waitFor(ended('inst-untrusted', 2), 30_000, 'the deployment to fail');
  assert.equal(last('inst-untrusted')?.code, 'PACKAGE_SIGNATURE_INVALID');
});

test('a blob the control plane does not serve fails PACKAGE_DOWNLOAD_FAILED at once (a refusal is not retried, but for retryFailed)', async () => {
  const { m } = manager('missing');
  const code = signedPackage(cp, key, {
    kind: 'code',
    name: 'privacy-blur',
    version: '0.1.0',
    descriptor: exampleDescriptor(),
    files: { 'app.mjs': randomBytes(100) },
  });
  const sha = firstBlob(code);
  const blob = cp.blobs.get(sha);
  assert.ok(blob !== undefined);
  cp.blobs.delete(sha);
  const app = privacyBlurApp({ instanceId: 'inst-missing', revision: 1, code, model: pkgs.model });
  await m.apply([app], 'verified');
  await waitFor(ended('inst-missing', 1), 30_000, 'the deployment to fail');
  assert.equal(last('inst-missing')?.code, 'PACKAGE_DOWNLOAD_FAILED');
  // Not retried at the same revision…
  assert.deepEqual(await m.apply([app], 'verified'), []);
  // …unless the failure happened while the control plane was away (retryFailed): then the next plan deploys it again.
  cp.blobs.set(sha, blob);
  const seen = reports('inst-missing').length;
  m.retryFailed(new Set(['inst-missing']));
  const steps = await m.apply([app], 'verified');
  assert.deepEqual(
    steps.map((st) => (st.kind === 'deploy' ? `deploy ${st.reason}` : st.kind)),
    ['deploy retry'],
  );
  await waitFor(
    () =>
      reports('inst-missing')
        .slice(seen)
        .some((r) => r.stage === 'verifying'),
    30_000,
    'the retry past its download',
  );
  assert.deepEqual(await m.apply([app], 'verified'), [], 'retried once, not at every plan');
});

test('a stage past its timeout fails STAGE_TIMEOUT naming the stage', async () => {
  const { m } = manager('timeout');
  const body = randomBytes(4096);
  const code = signedPackage(cp, key, {
    kind: 'code',
    name: 'privacy-blur',
    version: '0.1.0',
    descriptor: exampleDescriptor(),
    files: { 'app.mjs': body },
  });
  const sha = firstBlob(code);
  cp.stalledBlobs.add(sha);
  const app = privacyBlurApp({
    instanceId: 'inst-timeout',
    revision: 1,
    code,
    model: pkgs.model,
    stageTimeoutsSeconds: { downloading: 2, verifying: 120, starting: 120 },
  });
  await m.apply([app], 'verified');
  await waitFor(ended('inst-timeout', 1), 60_000, 'the deployment to fail');
  assert.equal(last('inst-timeout')?.code, 'STAGE_TIMEOUT');
  assert.match(last('inst-timeout')?.message ?? '', /downloading stage/);
});

test('compromised integrity stops every instance', async () => {
  const { m } = manager('compromised');
  const app = privacyBlurApp({ instanceId: 'inst-comp', revision: 1, code: pkgs.code, model: pkgs.model });
  await m.apply([app], 'verified');
  await waitFor(ended('inst-comp', 1), 120_000, 'the deployment to end');
  const pids = m.list()[0]?.pids ?? [];
  assert.equal(pids.length, 1);
  const steps = await m.apply([app], 'compromised');
  assert.deepEqual(
    steps.map((s) => s.kind),
    ['stop'],
  );
  assert.equal(last('inst-comp')?.stage, 'stopped');
  assert.equal(last('inst-comp')?.code, 'INTEGRITY_COMPROMISED');
  assert.throws(() => process.kill(pids[0] ?? -1, 0));
  assert.deepEqual(await m.apply([app], 'compromised'), [], 'and nothing starts while compromised');
});

test('a model runner that dies is started again, and the app that uses it is restarted onto the new one', async () => {
  const { m } = manager('runner-dies');
  const app = privacyBlurApp({ instanceId: 'inst-runner', revision: 1, code: pkgs.code, model: pkgs.model });
  await m.apply([app], 'verified');
  const frames = (): number => last('inst-runner')?.nodes?.[0]?.metrics?.frames ?? 0;
  await waitFor(() => frames() > 0, 120_000, 'blurred frames');
  // The model node is reported beside the code node: running, with what its runner served.
  const face = () => last('inst-runner')?.nodes?.find((n) => n.node === 'face');
  await waitFor(() => (face()?.metrics?.runs ?? 0) > 0, 30_000, 'the model node reported with its runs');
  assert.equal(face()?.state, 'running');
  assert.equal(face()?.restarts, 0);
  const before = m.list()[0]!;
  const runnerPid = before.modelPids.face;
  assert.ok(runnerPid !== undefined);
  const appPid = before.pids[0];
  process.kill(runnerPid, 'SIGKILL');
  await waitFor(
    () => {
      const now = m.list()[0];
      return now !== undefined && now.modelPids.face !== undefined && now.modelPids.face !== runnerPid && now.pids[0] !== appPid;
    },
    60_000,
    'a new model runner and a restarted app',
  );
  // Frames flow again, through the new runner.
  const atRestart = frames();
  await waitFor(() => frames() > atRestart + 5, 60_000, 'frames through the new runner');
  // The instance's log (shipped to its log group) says what happened.
  const said = (re: RegExp) => (): boolean => re.test(JSON.stringify(cp.logs));
  await waitFor(said(/\[face\] the model runner stopped \(SIGKILL\); starting it again/), 30_000, 'the runner death in the app log');
  await waitFor(said(/\[face\] the model runner is back/), 30_000, 'the runner restart in the app log');
  assert.equal(last('inst-runner')?.stage, 'running');
  // Reported: one restart and why; the runs of the dead runner still counted.
  const runsAtDeath = face()?.metrics?.runs ?? 0;
  await waitFor(
    () => face()?.state === 'running' && face()?.restarts === 1 && (face()?.metrics?.runs ?? 0) > runsAtDeath,
    30_000,
    'the restart in the report',
  );
  assert.equal(face()?.lastExit, 'SIGKILL');
  assert.throws(() => process.kill(runnerPid, 0), 'the old runner is gone');
  assert.throws(() => process.kill(appPid ?? -1, 0), 'the old app process is gone');
});

const gst = gstreamerAvailable();
test(
  'camera credentials: waited for while they cannot be fetched, then never reach the app process (environment, argv, files) or any log',
  { skip: gst.ok ? false : gst.reason },
  async () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const sim = await startCameraSimulator({ file: PAN_MESSI, credentials: { username: 'viewer', password } });
    try {
      const { m, dataDir, runRoot } = manager('creds');
      const app = privacyBlurApp({
        instanceId: 'inst-creds',
        revision: 1,
        code: pkgs.code,
        model: pkgs.model,
        cameras: [{ node: 'camera', cameraId: 'cam_secret', camera: 'gate', url: sim.url, hasCredentials: true, paused: false }],
      });
      // Its credentials cannot be fetched yet (not bound): the app runs and the camera waits, saying why…
      await m.apply([app], 'verified');
      await waitFor(
        () => last('inst-creds')?.stage === 'running' && last('inst-creds')?.cameras?.[0]?.state === 'reconnecting',
        120_000,
        'the app running, its camera waiting for credentials',
      );
      assert.match(last('inst-creds')?.cameras?.[0]?.lastError ?? '', /^CAMERA_CREDENTIALS_UNAVAILABLE: .*\(CAMERA_NOT_FOUND\)/);
      // …and connects once they can be, with no redeploy.
      cp.cameraSecrets.set('cam_secret', { username: 'viewer', password });
      await waitFor(
        () => last('inst-creds')?.cameras?.[0]?.state === 'connected' && (last('inst-creds')?.nodes?.[0]?.metrics?.frames ?? 0) > 0,
        120_000,
        'frames from the RTSP camera',
      );
      assert.equal(cp.credentialReads.filter((r) => r.cameraId === 'cam_secret').length, 1, 'fetched once, just in time');
      const pids = m.list()[0]?.pids ?? [];
      assert.equal(pids.length, 1);
      for (const pid of pids) {
        for (const f of ['environ', 'cmdline']) {
          const bytes = readFileSync(`/proc/${pid}/${f}`);
          assert.ok(!bytes.includes(password), `not in /proc/${pid}/${f}`);
          assert.ok(!bytes.includes(sim.url.slice(0, 20)), `the camera URL is not in /proc/${pid}/${f} either`);
        }
      }
      assert.deepEqual(grepDir(dataDir, [password]), []);
      assert.deepEqual(grepDir(runRoot, [password]), []);
      await m.apply([], 'verified');
      await waitFor(() => last('inst-creds')?.stage === 'stopped', 30_000, 'stopped');
      assert.ok(!JSON.stringify(cp.logs).includes(password), 'not in shipped logs');
      assert.ok(!JSON.stringify(cp.appStatus).includes(password), 'not in status reports');
      assert.ok(!agentLines.join('\n').includes(password), "not in the agent's log");
    } finally {
      await sim.stop();
    }
  },
);
