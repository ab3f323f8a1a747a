import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, fstatSync, mkdirSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Frame } from '@sightline/sdk';
import { FrameRing, appLaunchSpec, permissionFlag, startLocalApp, type LocalApp } from '@sightline/sdk/agent';
import { bundleApp, type BundleResult } from '@sightline/sdk/build';

/**
 * A real app process under the flags the agent uses (appLaunchSpec): the
 * permission model holds, IPC works without --allow-child-process, frames
 * cross as bytes, and the per-frame cost at 768x576 is measured.
 */

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'sl-sdk-sandbox-'));
const pkgDir = join(tmp, 'pkg');
const storageDir = join(tmp, 'storage');
let bundle: BundleResult;

before(async () => {
  mkdirSync(storageDir);
  bundle = await bundleApp(join(here, 'fixtures/probe-app'), pkgDir);
  copyFileSync(join(here, 'fixtures/probe-app/descriptor.json'), join(pkgDir, 'descriptor.json'));
  // A real native addon inside the package, so only the addon rule (not the fs rule) can stop it.
  const require = createRequire(import.meta.url);
  const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
  copyFileSync(join(ortDir, 'bin/napi-v6', process.platform, process.arch, 'onnxruntime_binding.node'), join(pkgDir, 'native.node'));
});

after(() => rmSync(tmp, { recursive: true, force: true }));

async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function start(parameters: Record<string, unknown> = {}): LocalApp {
  return startLocalApp({ entry: bundle.outFile, appDir: pkgDir, storageDir, descriptor: bundle.descriptor, parameters });
}

test('the launch command line: permission model, no addon/child/worker flags, clean env', () => {
  const spec = appLaunchSpec({ entry: join(pkgDir, 'app.mjs'), appDir: pkgDir, storageDir, memoryMiB: 256, instance: 'i-1' });
  assert.deepEqual(spec.args, [
    permissionFlag(),
    `--allow-fs-read=${pkgDir}`,
    `--allow-fs-read=${storageDir}`,
    `--allow-fs-write=${storageDir}`,
    '--max-old-space-size=192',
    '--disable-warning=ExperimentalWarning',
    join(pkgDir, 'app.mjs'),
  ]);
  assert.ok(!spec.args.some((a) => /allow-(addons|child-process|worker|wasi)/.test(a)));
  assert.equal(spec.options.serialization, 'advanced');
  assert.deepEqual(Object.keys(spec.options.env ?? {}).sort(), ['NODE_ENV', 'SIGHTLINE_APP_INSTANCE', 'SIGHTLINE_STORAGE_DIR', 'TZ']);
  assert.throws(() => appLaunchSpec({ entry: '/etc/passwd', appDir: pkgDir, storageDir, memoryMiB: 256, instance: 'i' }), {
    code: 'DESCRIPTOR_INVALID',
  });
  assert.throws(
    () => appLaunchSpec({ entry: join(pkgDir, 'app.mjs'), appDir: pkgDir, storageDir: join(pkgDir, 's'), memoryMiB: 256, instance: 'i' }),
    { code: 'DESCRIPTOR_INVALID' },
  );
});

test('an app reads only its package, writes only its storage, loads no addon, starts no process or worker', async () => {
  const app = start();
  await waitFor('the probe report', () => app.logs.some((l) => l.message === 'probes'));
  const probes = app.logs.find((l) => l.message === 'probes')!.fields!;
  assert.equal(probes.readHostname, 'ERR_ACCESS_DENIED');
  assert.equal(probes.readOwnPackage, 'ok');
  assert.equal(probes.writeStorage, 'ok');
  assert.equal(probes.readStorage, 'ok');
  assert.equal(probes.writePackage, 'ERR_ACCESS_DENIED');
  assert.equal(probes.addon, 'ERR_DLOPEN_DISABLED');
  assert.equal(probes.childProcess, 'ERR_ACCESS_DENIED');
  assert.equal(probes.worker, 'ERR_ACCESS_DENIED');
  // Only what appLaunchSpec put there (Node adds its IPC variables).
  assert.deepEqual(
    String(probes.envKeys)
      .split(',')
      .filter((k) => !k.startsWith('NODE_CHANNEL_')),
    ['NODE_ENV', 'SIGHTLINE_APP_INSTANCE', 'SIGHTLINE_STORAGE_DIR', 'TZ'],
  );
  assert.equal(existsSync(join(pkgDir, 'tamper.txt')), false);
  assert.equal(await app.stop(), 0);
  assert.deepEqual(app.exit, { ok: true });
});

for (const ringed of [false, true]) {
  const how = ringed ? 'through the frame ring' : 'over IPC';
  test(`frames round-trip ${how} as bytes, overlays drawn; per-frame cost at 768x576`, async (t) => {
    const W = 768;
    const H = 576;
    const frames = 60;
    const out: Frame[] = [];
    let arrived: () => void = () => undefined;
    const ring = ringed ? await FrameRing.create(['video_in'], ['video_out'], { slotBytes: W * H * 3 }) : undefined;
    const app = startLocalApp({
      ...(ring === undefined ? {} : { ring }),
      entry: bundle.outFile,
      appDir: pkgDir,
      storageDir,
      descriptor: bundle.descriptor,
      parameters: { label: 'HI' },
      onFrame: (_output, f) => {
        out.push(new Frame(f));
        arrived();
      },
    });
    const sent = Frame.blank(W, H, { fill: [40, 80, 120], camera: 'cam-1', timestamp: 1 });
    const times: number[] = [];
    for (let i = 0; i < frames; i++) {
      const back = new Promise<void>((resolve) => (arrived = resolve));
      const t0 = performance.now();
      app.offer('video_in', new Frame({ ...sent, data: sent.data.slice(), timestamp: i }));
      await back;
      if (i > 0) times.push(performance.now() - t0); // the first one includes the app's start
    }
    assert.equal(out.length, frames);
    const last = out.at(-1)!;
    assert.equal(last.width, W);
    assert.equal(last.camera, 'cam-1');
    assert.equal(last.timestamp, frames - 1);
    // The label's first glyph pixel (H: top-left is lit) is drawn in the overlay colour; far pixels are as sent.
    assert.deepEqual(last.pixel(2, 2), [0, 255, 0]);
    assert.deepEqual(last.pixel(400, 300), [40, 80, 120]);
    times.sort((a, b) => a - b);
    const q = (p: number): string => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2);
    t.diagnostic(
      `768x576 RGB24 agent -> app (get) -> agent (put) ${how}, ${times.length} frames: min ${q(0)} ms, median ${q(0.5)} ms, p90 ${q(0.9)} ms`,
    );
    assert.equal(await app.stop(), 0);
    // Metric counts travel in batches (every 250 ms and at exit).
    assert.equal(app.metrics.get('frames'), frames);
    assert.equal(app.endpoint.stats.protocolErrors, 0);
  });
}

test('a misbehaving app: bad messages are refused with PROTOCOL_ERROR and counted', async () => {
  const app = start();
  await waitFor('the app to say hello', () => app.logs.length > 0);
  // Speak for the app: a frame whose byte count lies about its size, and an unknown message type.
  const endpoint = app.endpoint as unknown as { handle(m: unknown): Promise<void> };
  await endpoint.handle({
    t: 'output.put',
    id: 999,
    output: 'video_out',
    frame: { width: 10, height: 10, data: new Uint8Array(5), timestamp: 0, camera: 'x' },
  });
  await endpoint.handle({ t: 'shell', id: 1000, cmd: 'rm -rf /' });
  assert.equal(app.endpoint.stats.protocolErrors, 2);
  assert.equal(app.outputs.get('video_out'), undefined);
  assert.equal(await app.stop(), 0);
});

test('the frame ring refuses what an app cannot have put there, and cuts back a file the app grew', async () => {
  const W = 64;
  const H = 48;
  const ring = await FrameRing.create(['video_in'], ['video_out'], { slotBytes: W * H * 3 });
  const app = startLocalApp({ entry: bundle.outFile, appDir: pkgDir, storageDir, descriptor: bundle.descriptor, ring });
  await waitFor('the app to say hello', () => app.logs.length > 0);
  const endpoint = app.endpoint as unknown as { handle(m: unknown): Promise<void> };
  const sent: unknown[] = [];
  const child = app.child as unknown as { send(m: unknown, cb: (e: Error | null) => void): boolean };
  const send = child.send.bind(child);
  child.send = (m, cb) => (sent.push(m), send(m, cb));
  const frame = { width: W * 100, height: H, timestamp: 0, camera: 'x' };
  // Larger than a slot; then an output slot that holds fewer bytes than claimed; then an undeclared output.
  await endpoint.handle({ t: 'output.ring', id: 901, output: 'video_out', frame });
  await endpoint.handle({ t: 'output.ring', id: 902, output: 'video_out', frame: { ...frame, width: W } });
  await endpoint.handle({ t: 'output.ring', id: 903, output: 'elsewhere', frame: { ...frame, width: W } });
  const codes = Object.fromEntries(
    sent.filter((m): m is { id: number; error: { code: string } } => (m as { t?: string }).t === 'reply').map((m) => [m.id, m.error?.code]),
  );
  assert.deepEqual(codes, { 901: 'FRAME_INVALID', 902: 'FRAME_INVALID', 903: 'UNKNOWN_OUTPUT' });
  assert.equal(app.outputs.get('video_out'), undefined);
  // The app can write anywhere in the file it holds: the agent cuts it back to its layout.
  writeSync(ring.fd, Buffer.alloc(4096, 1), 0, 4096, ring.size + 10 * 1024 * 1024);
  ring.guard();
  assert.equal(fstatSync(ring.fd).size, ring.size);
  assert.equal(ring.overgrown, 1);
  assert.equal(await app.stop(), 0);
});

test('the permission flag follows the Node version: --permission where it is stable (22.13, 23.5, 24+), the experimental one before', () => {
  const cases: [string, string][] = [
    ['20.19.0', '--experimental-permission'],
    ['v20.20.2', '--experimental-permission'],
    ['22.12.0', '--experimental-permission'],
    ['22.13.0', '--permission'],
    ['23.4.0', '--experimental-permission'],
    ['23.5.0', '--permission'],
    ['24.0.0', '--permission'],
    ['26.1.0', '--permission'],
  ];
  for (const [version, flag] of cases) assert.equal(permissionFlag(version), flag, version);
  // And the one chosen for this Node really turns the model on: a read outside the allowed folder is refused.
  const r = spawnSync(
    process.execPath,
    [permissionFlag(), `--allow-fs-read=${pkgDir}`, '-e', "require('fs').readFileSync('/etc/hostname')"],
    {
      encoding: 'utf8',
    },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /ERR_ACCESS_DENIED/);
});
