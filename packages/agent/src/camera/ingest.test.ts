import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Clock } from '../clock.js';
import type { DecoderProcess, Spawner } from './decoder.js';
import { ffmpegArgs } from './decoder.js';
import { CameraIngest, type CameraStatus } from './ingest.js';
import { CameraCredentials } from './credentials.js';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A clock that moves only when told; sleepers wake in order. */
class ManualClock implements Clock {
  t = 1_000_000;
  private sleepers: { at: number; resolve: () => void }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted === true) return resolve();
      const s = { at: this.t + ms, resolve };
      this.sleepers.push(s);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }
  async advance(ms: number): Promise<void> {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.at <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.at > this.t);
    for (const s of due) s.resolve();
    await settle();
  }
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

class FakeProcess extends EventEmitter implements DecoderProcess {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  pid = 4242;
  killed: string[] = [];
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.killed.push(signal);
    setImmediate(() => this.emit('exit', null, signal));
    return true;
  }
}

function fakeSpawner(): { spawn: Spawner; procs: FakeProcess[]; calls: (readonly string[])[] } {
  const procs: FakeProcess[] = [];
  const calls: (readonly string[])[] = [];
  const spawn: Spawner = (_cmd, args) => {
    calls.push(args);
    const p = new FakeProcess();
    procs.push(p);
    return p;
  };
  return { spawn, procs, calls };
}

const W = 4;
const H = 2;
const frameBytes = (v: number): Buffer => Buffer.alloc(W * H * 3, v);

test('frames are dropped, not queued: a slow reader gets the latest and drops are counted', async () => {
  const clock = new ManualClock();
  const { spawn, procs } = fakeSpawner();
  const ingest = new CameraIngest(
    { source: { url: 'file:///clips/a.mp4' }, width: W, height: H, ffmpegPath: '/usr/bin/ffmpeg' },
    { clock, spawn, random: () => 0.5 },
  );
  ingest.start();
  await settle();
  const proc = procs[0];
  assert.ok(proc);
  assert.equal(ingest.status().state, 'connecting');
  // Three frames, delivered in odd-sized chunks, before anyone reads.
  const bytes = Buffer.concat([frameBytes(1), frameBytes(2), frameBytes(3)]);
  proc.stdout.write(bytes.subarray(0, 5));
  proc.stdout.write(bytes.subarray(5, 50));
  proc.stdout.write(bytes.subarray(50));
  await settle();
  const s = ingest.status();
  assert.equal(s.state, 'connected');
  assert.equal(s.secure, true);
  assert.equal(s.framesDelivered, 3);
  assert.equal(s.framesDropped, 2);
  const f = await ingest.next({ timeoutMs: 10 });
  assert.equal(f?.seq, 2);
  assert.equal(f?.data[0], 3);
  // Nothing waiting now: a reader waits for the next frame.
  const pending = ingest.next();
  proc.stdout.write(frameBytes(4));
  assert.equal((await pending)?.data[0], 4);
  await ingest.stop();
  assert.equal(ingest.status().state, 'stopped');
});

test('reconnects with exponential backoff and jitter, and resets after frames flow', async () => {
  const clock = new ManualClock();
  const { spawn, procs } = fakeSpawner();
  const seen: CameraStatus[] = [];
  const ingest = new CameraIngest(
    { source: { url: 'file:///clips/a.mp4' }, width: W, height: H, ffmpegPath: '/usr/bin/ffmpeg', backoff: { baseMs: 1000, maxMs: 8000 } },
    { clock, spawn, random: () => 0.5 },
  );
  ingest.onStatus((s) => seen.push(s));
  ingest.start();
  await settle();
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const proc = procs[i];
    assert.ok(proc, `attempt ${i}`);
    proc.stderr.write('pipe:0: Invalid data found when processing input\n');
    await settle();
    proc.emit('exit', 1, null);
    await settle();
    const s = ingest.status();
    assert.equal(s.state, 'backoff');
    assert.equal(s.lastError?.code, 'DECODER_FAILED');
    assert.match(s.lastError?.message ?? '', /Invalid data/);
    delays.push((s.retryAt ?? 0) - clock.now());
    await clock.advance(s.retryAt === null ? 0 : s.retryAt - clock.now());
  }
  // Equal jitter at random()=0.5: 3/4 of 1, 2, 4, 8, 8 s.
  assert.deepEqual(delays, [750, 1500, 3000, 6000, 6000]);
  assert.equal(ingest.status().reconnects, 5);
  const proc = procs[5];
  assert.ok(proc);
  proc.stdout.write(frameBytes(9));
  await settle();
  assert.equal(ingest.status().state, 'connected');
  proc.emit('exit', 1, null);
  await settle();
  assert.equal((ingest.status().retryAt ?? 0) - clock.now(), 750, 'backoff starts over after a good connection');
  assert.deepEqual([...new Set(seen.map((s) => s.state))].sort(), ['backoff', 'connected', 'connecting']);
  await ingest.stop();
});

test('a missing ffmpeg is permanent: failed, no retry loop', async () => {
  const clock = new ManualClock();
  const spawn: Spawner = () => {
    const p = new FakeProcess();
    setImmediate(() => p.emit('error', Object.assign(new Error('spawn ffmpeg ENOENT'), { code: 'ENOENT' })));
    return p;
  };
  const ingest = new CameraIngest(
    { source: { url: 'file:///clips/a.mp4' }, width: W, height: H, ffmpegPath: '/nope/ffmpeg' },
    { clock, spawn },
  );
  ingest.start();
  await settle();
  await settle();
  assert.equal(ingest.status().state, 'failed');
  assert.equal(ingest.status().lastError?.code, 'FFMPEG_UNAVAILABLE');
  await ingest.stop();
});

test('no picture for frameTimeoutMs ends the attempt as stalled', async () => {
  const clock = new ManualClock();
  const { spawn, procs } = fakeSpawner();
  const ingest = new CameraIngest(
    { source: { url: 'file:///clips/a.mp4' }, width: W, height: H, ffmpegPath: '/usr/bin/ffmpeg', frameTimeoutMs: 3000 },
    { clock, spawn },
  );
  ingest.start();
  await settle();
  for (let i = 0; i < 4; i++) await clock.advance(1000);
  for (let i = 0; i < 5; i++) await settle();
  assert.equal(ingest.status().state, 'backoff');
  assert.equal(ingest.status().lastError?.code, 'CAMERA_STREAM_STALLED');
  assert.deepEqual(procs[0]?.killed, ['SIGTERM']);
  await ingest.stop();
});

test('bad sources are refused before anything starts', () => {
  const bad: [string, string][] = [
    ['rtsp://admin:pw@cam/stream', 'CREDENTIALS_IN_URL'],
    ['rtsp://cam/stream?password=x', 'CREDENTIALS_IN_URL'],
    ['http://cam/stream', 'URL_SCHEME_NOT_ALLOWED'],
    ['file://otherhost/clip.mp4', ''],
  ];
  for (const [url, validation] of bad) {
    assert.throws(
      () => new CameraIngest({ source: { url }, width: 8, height: 8 }),
      (err: { code?: string; message?: string; details?: Record<string, unknown> }) => {
        assert.equal(err.code, 'CAMERA_SOURCE_INVALID');
        if (validation !== '') assert.equal(err.details?.['validation'], validation);
        assert.ok(!(err.message ?? '').includes('pw'), 'the message never echoes the URL');
        return true;
      },
      url,
    );
  }
  assert.throws(() => new CameraIngest({ source: { url: 'rtsp://cam/s', ca: 'PEM' }, width: 8, height: 8 }), {
    code: 'CAMERA_SOURCE_INVALID',
  });
  assert.throws(() => new CameraIngest({ source: { url: 'rtsp://cam/s' }, width: 7, height: 8 }), { code: 'CAMERA_SOURCE_INVALID' });
  assert.throws(() => new CameraIngest({ source: { url: 'rtsp://cam/s' }, width: 100_000, height: 8 }), { code: 'CAMERA_SOURCE_INVALID' });
  const plain = new CameraIngest({ source: { url: 'rtsp://cam/s', credentials: CameraCredentials.from('u', 'p') }, width: 8, height: 8 });
  assert.equal(plain.status().secure, false);
  assert.match(plain.status().warning ?? '', /unencrypted/);
});

test('the ffmpeg command line for a camera carries no URL, only a pipe', () => {
  const args = ffmpegArgs({ input: { kind: 'h264-pipe' }, width: 256, height: 256, threads: 1 });
  assert.ok(args.includes('pipe:0') && args.includes('pipe:1'));
  assert.ok(!args.some((a) => /rtsps?:|@/.test(a)));
  assert.deepEqual(args.slice(args.indexOf('-vf'), args.indexOf('-vf') + 4), ['-vf', 'scale=256:256', '-pix_fmt', 'rgb24']);
  const file = ffmpegArgs({ input: { kind: 'file', path: '/clips/a.mp4', loop: true }, width: 64, height: 48 });
  assert.deepEqual(file.slice(file.indexOf('-re'), file.indexOf('-re') + 5), ['-re', '-stream_loop', '-1', '-i', '/clips/a.mp4']);
  // Every picture once, no frame-rate guess: spelt -fps_mode from 5.1 on, -vsync before (the npm static build is 4.1).
  assert.deepEqual(args.slice(args.indexOf('passthrough') - 1, args.indexOf('passthrough') + 1), ['-fps_mode', 'passthrough']);
  const old = ffmpegArgs({ input: { kind: 'h264-pipe' }, width: 8, height: 8, legacyVsync: true });
  assert.deepEqual(old.slice(old.indexOf('passthrough') - 1, old.indexOf('passthrough') + 1), ['-vsync', 'passthrough']);
  assert.ok(!old.includes('-fps_mode'));
});

test('pooled frames: one a reader keeps is never overwritten, released ones are reused', async () => {
  const clock = new ManualClock();
  const { spawn, procs } = fakeSpawner();
  const ingest = new CameraIngest(
    { source: { url: 'file:///clips/a.mp4' }, width: W, height: H, ffmpegPath: '/usr/bin/ffmpeg' },
    { clock, spawn, random: () => 0.5 },
  );
  const other = ingest.subscribe();
  ingest.start();
  await settle();
  const proc = procs[0];
  assert.ok(proc);
  proc.stdout.write(frameBytes(1));
  await settle();
  const kept = await ingest.next({ timeoutMs: 10 });
  assert.ok(kept);
  // The second reader lets go of the same frame at once: the default reader's claim still protects it.
  (await other.next({ timeoutMs: 10 }))?.release();
  for (let v = 2; v < 40; v++) {
    proc.stdout.write(frameBytes(v));
    await settle();
    const f = await ingest.next({ timeoutMs: 10 });
    const g = await other.next({ timeoutMs: 10 });
    assert.equal(f?.data[0], v);
    assert.notEqual(f?.data.buffer, kept.data.buffer, 'a kept frame was handed out again');
    f?.release();
    g?.release();
  }
  assert.ok(
    kept.data.every((b) => b === 1),
    'a kept frame changed',
  );
  const pool = ingest.poolStats();
  assert.ok(pool.reused >= 30, `buffers were not reused: ${JSON.stringify(pool)}`);
  assert.ok(pool.allocated <= 6, `a buffer per frame: ${JSON.stringify(pool)}`);
  // A frame replaced before it was read goes back too (dropped, not queued), and one never released simply stays out.
  const before = ingest.poolStats().allocated;
  for (let v = 40; v < 60; v++) proc.stdout.write(frameBytes(v));
  await settle();
  assert.ok(ingest.poolStats().allocated - before <= 2, `drops did not return their buffers: ${JSON.stringify(ingest.poolStats())}`);
  const last = await ingest.next({ timeoutMs: 10 });
  assert.equal(last?.data[0], 59);
  kept.release();
  await ingest.stop();
});

test('stopped while ffmpeg is still being asked its version: stop() returns and no ffmpeg is left running', async () => {
  // The real spawner: only it asks ffmpeg's version and sets up the stdout socket (both awaited before ffmpeg starts).
  const clip = fileURLToPath(new URL('../../test/fixtures/video/pan-messi.mp4', import.meta.url));
  const ingest = new CameraIngest({ source: { url: pathToFileURL(clip).href }, width: 64, height: 48 });
  ingest.start();
  const stopped = ingest.stop().then(() => 'stopped' as const);
  const timedOut = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref());
  assert.equal(await Promise.race([stopped, timedOut]), 'stopped', 'stop() waited on an attempt that missed the abort');
  assert.equal(ingest.status().state, 'stopped');
  assert.deepEqual(ingest.decoderPids, [], 'an ffmpeg was started after the stop');
});
