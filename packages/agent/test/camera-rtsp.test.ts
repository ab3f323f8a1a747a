import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CameraCredentials } from '../src/camera/credentials.js';
import { ffmpegSpeaksFpsMode, findFfmpeg, locateFfmpeg } from '../src/camera/decoder.js';
import type { CameraIngest, CameraIngestOptions } from '../src/camera/ingest.js';
import { cameraTestScope, mean, untilState, untilTrue } from './helpers/camera.js';
import {
  gstreamerAvailable,
  startCameraSimulator,
  type CameraSimulator,
  type SimulatorOptions,
} from '../src/camera/simulator/simulator.js';
import { createCa, issue } from './helpers/pki.js';

/**
 * Camera ingest against a real RTSP/RTSPS server (Debian's GStreamer RTSP
 * server, driven by the camera simulator) and real ffmpeg, as on an
 * appliance. Skipped, saying why, only where ffmpeg or GStreamer is missing.
 */

const STREET = fileURLToPath(new URL('./fixtures/video/street.mp4', import.meta.url)); // 768x576, 10 fps, 5 s
const PAN = fileURLToPath(new URL('./fixtures/video/pan-messi.mp4', import.meta.url)); // 640x480, 12 fps, 15 s

function skipReason(): string | undefined {
  if (findFfmpeg() === undefined) return 'ffmpeg not found (apt-get install ffmpeg)';
  const gst = gstreamerAvailable();
  return gst.ok ? undefined : gst.reason;
}
const skip = skipReason();
if (skip !== undefined) console.log(`# camera RTSP tests skipped: ${skip}`);

const scope = cameraTestScope();

async function sim(options: Omit<SimulatorOptions, 'file'> & { file?: string }): Promise<CameraSimulator> {
  const s = await startCameraSimulator({ file: STREET, ...options });
  scope.defer(() => s.stop());
  return s;
}

const ingest = (options: CameraIngestOptions): CameraIngest => scope.ingest(options);

function procText(pid: number, what: 'cmdline' | 'environ'): string {
  return readFileSync(`/proc/${pid}/${what}`).toString('latin1').split('\0').join(' ');
}

test('plain RTSP: frames at the requested size, a plausible frame rate, flagged insecure', { skip }, async (t) => {
  const s = await sim({});
  const cam = ingest({ source: { url: s.url }, width: 320, height: 240 });
  const first = await cam.next({ timeoutMs: 10_000 });
  assert.ok(first, `no frame: ${JSON.stringify(cam.status().lastError)}`);
  assert.equal(first.data.length, 320 * 240 * 3);
  assert.deepEqual([first.width, first.height], [320, 240]);
  const m = mean(first.data);
  assert.ok(m > 20 && m < 235, `a real picture, not a blank one (mean ${m})`);
  // ffmpeg starting on a loaded machine lets a few frames pile up, then bursts them out: count after that.
  await new Promise((r) => setTimeout(r, 1500));
  const n0 = cam.status().framesDelivered;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 3000));
  const own = (cam.status().framesDelivered - n0) / ((Date.now() - t0) / 1000);
  const st = cam.status();
  assert.equal(st.state, 'connected');
  // The clip is 10 fps; allow for a loaded CI machine.
  assert.ok(own >= 7 && own <= 13, `fps ${own}`);
  assert.ok(st.fps >= 5 && st.fps <= 20, `status fps ${st.fps}`);
  t.diagnostic(`${own.toFixed(1)} fps counted, ${st.fps} fps in status, from a 10 fps camera`);
  assert.equal(st.secure, false);
  assert.match(st.warning ?? '', /unencrypted/);
  assert.equal(st.lastError, null);
});

test(
  'Digest: right password streams, ffmpeg never sees the URL or the credentials; wrong password fails with RTSP_AUTH_FAILED',
  { skip },
  async () => {
    const password = 'Corr3ct-Horse-7716';
    const s = await sim({ credentials: { username: 'opviewer', password } });
    const creds = CameraCredentials.from('opviewer', password);
    const cam = ingest({ source: { url: s.url, credentials: creds }, width: 256, height: 256 });
    assert.ok(await cam.next({ timeoutMs: 10_000 }), `no frame: ${JSON.stringify(cam.status().lastError)}`);
    const pid = cam.decoderPids.at(-1);
    assert.ok(pid !== undefined);
    const cmdline = procText(pid, 'cmdline');
    assert.match(cmdline, /ffmpeg .*-f h264 -i pipe:0 .*scale=256:256/);
    const port = new URL(s.url).port;
    for (const secret of [s.url, `127.0.0.1:${port}`, 'rtsp', password, 'opviewer']) {
      assert.ok(!cmdline.includes(secret), `ffmpeg's command line must not carry ${secret === password ? 'the password' : secret}`);
    }
    assert.ok(!procText(pid, 'environ').includes(password), "ffmpeg's environment must not carry the password");

    const wrong = CameraCredentials.from('opviewer', 'wrong-Battery-Staple');
    const bad = ingest({ source: { url: s.url, credentials: wrong }, width: 64, height: 64 });
    await untilState(bad, 'failed');
    const err = bad.status().lastError;
    assert.equal(err?.code, 'RTSP_AUTH_FAILED');
    assert.ok(
      !wrong.appearsIn(err?.message ?? '') && !creds.appearsIn(err?.message ?? '') && !(err?.message ?? '').includes('opviewer'),
      err?.message,
    );
    assert.equal(bad.status().framesDelivered, 0);
  },
);

test('RTSPS: the right CA streams and reads as secure; another CA fails with RTSP_TLS_VERIFY_FAILED', { skip }, async () => {
  const ca = await createCa('Camera CA');
  const otherCa = await createCa('Someone else');
  const leaf = await issue(ca, { commonName: 'cam-01', usage: 'server', names: ['127.0.0.1', 'localhost'] });
  const s = await sim({ tls: { certPem: leaf.certPem, keyPem: leaf.keyPem }, credentials: { username: 'v', password: 'tls-and-digest' } });
  assert.match(s.url, /^rtsps:\/\//);
  const good = ingest({
    source: { url: s.url, ca: ca.certPem, credentials: CameraCredentials.from('v', 'tls-and-digest') },
    width: 160,
    height: 120,
  });
  const frame = await good.next({ timeoutMs: 10_000 });
  assert.ok(frame, `no frame: ${JSON.stringify(good.status().lastError)}`);
  assert.equal(frame.data.length, 160 * 120 * 3);
  assert.equal(good.status().secure, true);
  assert.equal(good.status().warning, null);

  const bad = ingest({
    source: { url: s.url, ca: otherCa.certPem, credentials: CameraCredentials.from('v', 'tls-and-digest') },
    width: 160,
    height: 120,
  });
  await untilState(bad, 'failed');
  assert.equal(bad.status().lastError?.code, 'RTSP_TLS_VERIFY_FAILED');
});

test('the camera goes away: backoff; it comes back on the same port: frames resume', { skip }, async (t) => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));

  const first = await sim({ port });
  const cam = ingest({ source: { url: first.url }, width: 128, height: 96, backoff: { baseMs: 200, maxMs: 1000 } });
  assert.ok(await cam.next({ timeoutMs: 10_000 }));
  const before = cam.status().framesDelivered;
  await first.stop();
  await untilState(cam, 'backoff', 5000);
  assert.ok(['CAMERA_UNREACHABLE', 'CAMERA_STREAM_STALLED'].includes(cam.status().lastError?.code ?? ''), cam.status().lastError?.code);
  // Let it fail to connect a few times (connection refused), then bring the camera back.
  await new Promise((r) => setTimeout(r, 1200));
  assert.notEqual(cam.status().state, 'connected');
  assert.notEqual(cam.status().state, 'failed');
  const second = await sim({ port });
  assert.equal(second.url, first.url);
  await untilState(cam, 'connected', 10_000);
  await untilTrue('new frames', () => cam.status().framesDelivered > before + 5, 5000);
  assert.ok(cam.status().reconnects >= 2, `reconnects ${cam.status().reconnects}`);
  t.diagnostic(`back after ${cam.status().reconnects} reconnect attempts`);
});

test('a slow reader: frames are dropped and counted, memory stays flat', { skip }, async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const s = await sim({ file: PAN });
  const cam = ingest({ source: { url: s.url }, width: 640, height: 480 });
  assert.ok(await cam.next({ timeoutMs: 10_000 }));
  // V8 frees array buffer memory after a GC, partly off the main thread: settle and take the lowest of a few readings.
  const settled = async (): Promise<number> => {
    let low = Infinity;
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
      low = Math.min(low, process.memoryUsage().arrayBuffers);
    }
    return low;
  };
  const base = await settled();
  let taken = 0;
  let peak = 0;
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 400)); // an app that needs 400 ms a frame, on a 12 fps camera
    if (await cam.next({ timeoutMs: 1000 })) taken++;
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }
  const grown = (await settled()) - base;
  const st = cam.status();
  t.diagnostic(
    `delivered ${st.framesDelivered}, taken ${taken}, dropped ${st.framesDropped}; array buffers ${(grown / 1048576).toFixed(1)} MiB over the start after GC (peak before GC ${((peak - base) / 1048576).toFixed(1)} MiB)`,
  );
  assert.ok(st.framesDelivered >= 40, `delivered ${st.framesDelivered}`);
  assert.ok(st.framesDropped >= st.framesDelivered - taken - 3, `dropped ${st.framesDropped} of ${st.framesDelivered}, taken ${taken}`);
  // A queue would hold ~45 frames of 900 KiB (40 MiB); the latest-only slot holds one.
  assert.ok(grown < 12 * 1024 * 1024, `array buffers grew by ${(grown / 1048576).toFixed(1)} MiB`);
});

test('file:// source: ffmpeg reads the clip itself, looping, at the requested size', { skip }, async () => {
  const cam = ingest({ source: { url: new URL(`file://${STREET}`).href }, width: 96, height: 72 });
  const f = await cam.next({ timeoutMs: 10_000 });
  assert.ok(f, JSON.stringify(cam.status().lastError));
  assert.equal(f.data.length, 96 * 72 * 3);
  assert.equal(cam.status().secure, true);
  await untilTrue('a few frames', () => cam.status().framesDelivered >= 10, 5000);
});

test('npm-only install: with no ffmpeg on PATH the bundled static ffmpeg is found and decodes an RTSPS stream', { skip }, async (t) => {
  const bundled = locateFfmpeg({ PATH: '' });
  if (bundled === undefined) return t.skip('the optional @ffmpeg-installer package is not installed on this platform');
  assert.equal(bundled.source, 'npm');
  assert.match(bundled.path, /node_modules\/@ffmpeg-installer\/[a-z0-9]+-[a-z0-9]+\/ffmpeg$/);
  assert.equal(locateFfmpeg({ PATH: '', SIGHTLINE_FFMPEG: '/opt/ffmpeg' })?.source, 'env');
  assert.equal(await ffmpegSpeaksFpsMode(bundled.path), false, 'the npm build is ffmpeg 4.1');
  const system = findFfmpeg();
  if (system !== undefined && system !== bundled.path)
    t.diagnostic(`system ffmpeg speaks -fps_mode: ${String(await ffmpegSpeaksFpsMode(system))}`);
  const ca = await createCa('Camera CA');
  const leaf = await issue(ca, { commonName: 'cam-02', usage: 'server', names: ['127.0.0.1', 'localhost'] });
  const s = await sim({ tls: { certPem: leaf.certPem, keyPem: leaf.keyPem }, credentials: { username: 'v', password: 'npm-only' } });
  const cam = ingest({
    source: { url: s.url, ca: ca.certPem, credentials: CameraCredentials.from('v', 'npm-only') },
    width: 128,
    height: 96,
    ffmpegPath: bundled.path,
  });
  const frame = await cam.next({ timeoutMs: 10_000 });
  assert.ok(frame, `no frame: ${JSON.stringify(cam.status().lastError)}`);
  assert.equal(frame.data.length, 128 * 96 * 3);
  const m = mean(frame.data);
  assert.ok(m > 20 && m < 235, `a real picture, not a blank one (mean ${m})`);
  const pid = cam.decoderPids.at(-1);
  assert.ok(pid !== undefined, 'the decoder process is recorded');
  assert.match(procText(pid, 'cmdline'), /@ffmpeg-installer/);
});
