import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CameraCredentials } from '../src/camera/credentials.js';
import { findFfmpeg, locateFfmpeg } from '../src/camera/decoder.js';
import type { CameraIngest, CameraIngestOptions } from '../src/camera/ingest.js';
import { cameraTestScope, mean, untilState, untilTrue } from './helpers/camera.js';
import { H264Depacketizer, parseRtp, type AccessUnit } from '../src/camera/rtsp/h264.js';
import { DEFAULT_RTSP_LIMITS } from '../src/camera/rtsp/limits.js';
import { RtspReader, type RtspResponse } from '../src/camera/rtsp/message.js';
import { parseSdp } from '../src/camera/rtsp/sdp.js';
import {
  startBuiltinCameraServer,
  type BuiltinCameraServer,
  type BuiltinSimulatorOptions,
} from '../src/camera/simulator/builtin-server.js';
import { chooseSimulatorEngine, startCameraSimulator } from '../src/camera/simulator/simulator.js';
import { createCa, issue } from './helpers/pki.js';

/**
 * The built-in camera simulator (RTSP/RTSPS in Node, the clip read by
 * ffmpeg) against the agent's own ingest, against Debian's ffprobe/ffmpeg
 * and the npm static ffmpeg 4.1 as third-party clients, and byte by byte
 * with a raw socket. Skipped only where no ffmpeg at all is found.
 */

const STREET = fileURLToPath(new URL('./fixtures/video/street.mp4', import.meta.url)); // 768x576, 10 fps, keyframe every 1 s
const PAN = fileURLToPath(new URL('./fixtures/video/pan-messi.mp4', import.meta.url)); // 640x480, 12 fps, keyframe every 2 s

const skip =
  findFfmpeg() === undefined ? 'no ffmpeg (apt-get install ffmpeg, or npm install the optional @ffmpeg-installer/ffmpeg)' : undefined;
if (skip !== undefined) console.log(`# built-in camera simulator tests skipped: ${skip}`);
const FFPROBE = '/usr/bin/ffprobe';
const SYSTEM_FFMPEG = '/usr/bin/ffmpeg';

const scope = cameraTestScope();

async function sim(options: Partial<BuiltinSimulatorOptions> = {}): Promise<BuiltinCameraServer> {
  const s = await startBuiltinCameraServer({ file: PAN, ...options });
  scope.defer(() => s.stop());
  return s;
}

const ingest = (options: CameraIngestOptions): CameraIngest => scope.ingest(options);

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

/** A raw RTSP client: writes requests as given, collects replies and RTP. */
class RawClient {
  readonly socket: Socket;
  readonly replies: RtspResponse[] = [];
  readonly rtp: Buffer[] = [];
  closed = false;
  private readonly reader: RtspReader;
  private cseq = 0;

  constructor(url: string) {
    const u = new URL(url);
    this.socket = connect(Number(u.port), u.hostname);
    this.reader = new RtspReader(DEFAULT_RTSP_LIMITS, {
      message: (m) => {
        if (m.kind === 'response') this.replies.push(m);
      },
      interleaved: (channel, payload) => {
        if (channel === 0) this.rtp.push(Buffer.from(payload));
      },
    });
    this.socket.on('data', (d: Buffer) => this.reader.push(d));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
    scope.defer(() => Promise.resolve(void this.socket.destroy()));
  }

  async request(method: string, uri: string, headers: Record<string, string> = {}): Promise<RtspResponse> {
    const cseq = ++this.cseq;
    const lines = [`${method} ${uri} RTSP/1.0`, `CSeq: ${cseq}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let reply: RtspResponse | undefined;
    await untilTrue(
      `reply to ${method}`,
      () => (reply = this.replies.find((r) => r.headers.get('cseq') === String(cseq))) !== undefined,
      5000,
    );
    assert.ok(reply);
    return reply;
  }
}

test(
  'plain RTSP: the agent ingest gets real frames of the requested size at the clip rate; auto picks builtin without GStreamer',
  { skip },
  async (t) => {
    assert.equal(await chooseSimulatorEngine({ python: '/nonexistent/python3' }), 'builtin');
    assert.equal(await chooseSimulatorEngine({ engine: 'builtin' }), 'builtin');
    const s = await startCameraSimulator({ file: STREET, engine: 'builtin' });
    scope.defer(() => s.stop());
    assert.equal(s.engine, 'builtin');
    assert.match(s.url, /^rtsp:\/\/127\.0\.0\.1:\d+\/stream$/);
    const cam = ingest({ source: { url: s.url }, width: 384, height: 288 });
    const first = await cam.next({ timeoutMs: 10_000 });
    assert.ok(first, `no frame: ${JSON.stringify(cam.status().lastError)}`);
    assert.deepEqual([first.width, first.height, first.data.length], [384, 288, 384 * 288 * 3]);
    const m = mean(first.data);
    assert.ok(m > 20 && m < 235, `a real picture, not a blank one (mean ${m})`);
    await new Promise((r) => setTimeout(r, 1500));
    const n0 = cam.status().framesDelivered;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const fps = (cam.status().framesDelivered - n0) / ((Date.now() - t0) / 1000);
    t.diagnostic(`${fps.toFixed(1)} fps from a 10 fps clip`);
    assert.ok(fps >= 7 && fps <= 13, `fps ${fps}`);
    assert.equal(cam.status().state, 'connected');
    assert.equal(cam.status().secure, false);
  },
);

test('Digest: the right password streams, a wrong one fails with RTSP_AUTH_FAILED and nothing leaks into the error', { skip }, async () => {
  const password = 'Corr3ct-Horse-7716';
  const s = await sim({ credentials: { username: 'opviewer', password } });
  const cam = ingest({ source: { url: s.url, credentials: CameraCredentials.from('opviewer', password) }, width: 160, height: 120 });
  const f = await cam.next({ timeoutMs: 10_000 });
  assert.ok(f, `no frame: ${JSON.stringify(cam.status().lastError)}`);
  assert.equal(f.data.length, 160 * 120 * 3);

  const wrong = CameraCredentials.from('opviewer', 'wrong-Battery-Staple');
  const bad = ingest({ source: { url: s.url, credentials: wrong }, width: 64, height: 64 });
  await untilState(bad, 'failed');
  const err = bad.status().lastError;
  assert.equal(err?.code, 'RTSP_AUTH_FAILED');
  assert.ok(!wrong.appearsIn(err?.message ?? '') && !(err?.message ?? '').includes(password), err?.message);
  assert.equal(bad.status().framesDelivered, 0);
  // No credentials at all: refused too.
  const none = ingest({ source: { url: s.url }, width: 64, height: 64 });
  await untilState(none, 'failed');
  assert.equal(none.status().lastError?.code, 'RTSP_AUTH_FAILED');
});

test(
  'RTSPS: the right CA streams and reads as secure (Basic allowed over TLS); another CA fails with RTSP_TLS_VERIFY_FAILED',
  { skip },
  async () => {
    const ca = await createCa('Camera CA');
    const otherCa = await createCa('Someone else');
    const leaf = await issue(ca, { commonName: 'cam-01', usage: 'server', names: ['127.0.0.1', 'localhost'] });
    const s = await sim({
      tls: { certPem: leaf.certPem, keyPem: leaf.keyPem },
      credentials: { username: 'v', password: 'tls-and-basic', method: 'basic' },
    });
    assert.match(s.url, /^rtsps:\/\//);
    const good = ingest({
      source: { url: s.url, ca: ca.certPem, credentials: CameraCredentials.from('v', 'tls-and-basic') },
      width: 320,
      height: 240,
    });
    const frame = await good.next({ timeoutMs: 10_000 });
    assert.ok(frame, `no frame: ${JSON.stringify(good.status().lastError)}`);
    assert.equal(frame.data.length, 320 * 240 * 3);
    assert.equal(good.status().secure, true);
    assert.equal(good.status().warning, null);

    const bad = ingest({
      source: { url: s.url, ca: otherCa.certPem, credentials: CameraCredentials.from('v', 'tls-and-basic') },
      width: 64,
      height: 48,
    });
    await untilState(bad, 'failed');
    assert.equal(bad.status().lastError?.code, 'RTSP_TLS_VERIFY_FAILED');
  },
);

test(
  'third-party clients: Debian ffprobe sees h264 640x480; ffmpeg reads frames over TCP, and after UDP is refused with 461',
  { skip },
  async (t) => {
    const s = await sim({ credentials: { username: 'probe', password: 'ffmpeg-digest' } });
    const authed = s.url.replace('rtsp://', 'rtsp://probe:ffmpeg-digest@');
    const clients = [SYSTEM_FFMPEG, locateFfmpeg({ PATH: '' })?.path].filter((p): p is string => p !== undefined);
    const probe = await run(FFPROBE, [
      '-v',
      'error',
      '-rtsp_transport',
      'tcp',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=codec_name,width,height',
      '-of',
      'json',
      authed,
    ]);
    if (probe.code === -1 && /ENOENT/.test(probe.stderr)) t.diagnostic('no Debian ffprobe here');
    else {
      assert.equal(probe.code, 0, probe.stderr);
      const st = (JSON.parse(probe.stdout) as { streams: { codec_name: string; width: number; height: number }[] }).streams[0];
      assert.deepEqual([st?.codec_name, st?.width, st?.height], ['h264', 640, 480]);
    }
    for (const ff of clients) {
      for (const transport of [['-rtsp_transport', 'tcp'], []]) {
        const r = await run(ff, [
          '-hide_banner',
          '-nostdin',
          '-v',
          'info',
          ...transport,
          '-i',
          authed,
          '-frames:v',
          '24',
          '-f',
          'null',
          '-',
        ]);
        assert.equal(r.code, 0, `${ff} ${transport.join(' ')}: ${r.stderr.slice(-800)}`);
        assert.match(r.stderr, /Video: h264[^\n]*640x480/);
        assert.match(r.stderr, /frame=\s*24\b/, r.stderr.slice(-400));
        if (transport.length === 0) assert.match(r.stderr, /461/);
      }
    }
    const wrong = await run(clients[0] ?? SYSTEM_FFMPEG, [
      '-v',
      'error',
      '-rtsp_transport',
      'tcp',
      '-i',
      s.url.replace('rtsp://', 'rtsp://probe:nope@'),
      '-frames:v',
      '1',
      '-f',
      'null',
      '-',
    ]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401/);
    t.diagnostic(`clients: ${clients.join(', ')}`);
  },
);

test('two clients at once both get frames; the source ffmpeg is one process', { skip }, async () => {
  const s = await sim({ file: STREET });
  const a = ingest({ source: { url: s.url }, width: 96, height: 72 });
  const b = ingest({ source: { url: s.url }, width: 192, height: 144 });
  await untilTrue('frames on both', () => a.status().framesDelivered >= 10 && b.status().framesDelivered >= 10, 15_000);
  assert.equal(s.stats().sessions, 2);
  assert.equal(s.stats().playing, 2);
  assert.equal(s.ffmpegPids.length, 1);
  const fa = await a.next({ timeoutMs: 2000 });
  const fb = await b.next({ timeoutMs: 2000 });
  assert.equal(fa?.data.length, 96 * 72 * 3);
  assert.equal(fb?.data.length, 192 * 144 * 3);
  await a.stop();
  await untilTrue('one session left after TEARDOWN', () => s.stats().sessions === 1, 5000);
});

test(
  'protocol: OPTIONS, DESCRIBE (RFC 6184 SDP), 461 for UDP, SETUP/PLAY over TCP with RTP, GET_PARAMETER, TEARDOWN frees the session',
  { skip },
  async () => {
    const s = await sim({});
    const url = s.url;
    const c = new RawClient(url);
    const opts = await c.request('OPTIONS', '*');
    assert.equal(opts.status, 200);
    assert.match(opts.headers.get('public') ?? '', /DESCRIBE.*SETUP.*PLAY.*TEARDOWN.*GET_PARAMETER/);
    assert.equal((await c.request('DESCRIBE', url.replace('/stream', '/other'))).status, 404);
    const desc = await c.request('DESCRIBE', url, { Accept: 'application/sdp' });
    assert.equal(desc.status, 200);
    assert.equal(desc.headers.get('content-type'), 'application/sdp');
    assert.equal(desc.headers.get('content-base'), `${url}/`);
    const sdpText = desc.body.toString('utf8');
    assert.match(sdpText, /a=fmtp:96 packetization-mode=1;profile-level-id=42C01E;sprop-parameter-sets=Z[A-Za-z0-9+/=]+,aM[A-Za-z0-9+/=]+/);
    const sdp = parseSdp(sdpText);
    assert.equal(sdp.video.packetizationMode, 1);
    assert.equal(sdp.video.clockRate, 90_000);
    assert.deepEqual(
      sdp.video.parameterSets.map((p) => (p[0] ?? 0) & 0x1f),
      [7, 8],
    );
    const track = `${url}/${sdp.video.control ?? ''}`;
    assert.equal((await c.request('SETUP', track, { Transport: 'RTP/AVP;unicast;client_port=5000-5001' })).status, 461);
    assert.equal((await c.request('PLAY', url, { Session: 'nope' })).status, 454);
    const setup = await c.request('SETUP', track, {
      Transport: 'RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1',
    });
    assert.equal(setup.status, 200);
    assert.match(setup.headers.get('transport') ?? '', /^RTP\/AVP\/TCP;unicast;interleaved=0-1;ssrc=[0-9A-F]{8}/);
    const [session = '', timeout = ''] = (setup.headers.get('session') ?? '').split(';');
    assert.match(session, /^[0-9a-f]{16}$/);
    assert.equal(timeout, 'timeout=60');
    assert.equal(s.stats().sessions, 1);
    const play = await c.request('PLAY', url, { Session: session, Range: 'npt=0.000-' });
    assert.equal(play.status, 200);
    const info = /seq=(\d+);rtptime=(\d+)/.exec(play.headers.get('rtp-info') ?? '');
    assert.ok(info, play.headers.get('rtp-info'));
    await untilTrue('3 s of RTP', () => c.rtp.length > 0, 5000);
    await new Promise((r) => setTimeout(r, 3000));
    const packets = c.rtp.map((p) => parseRtp(p));
    assert.equal(packets[0]?.sequence, Number(info[1]), 'RTP-Info seq is the first packet');
    assert.equal(packets[0]?.timestamp, Number(info[2]), 'RTP-Info rtptime is the first picture');
    assert.ok(packets.every((p) => p.payloadType === 96 && p.ssrc === packets[0]?.ssrc && p.payload.length <= 1400));
    assert.ok(
      packets.every((p, i) => i === 0 || p.sequence === (((packets[i - 1]?.sequence ?? 0) + 1) & 0xffff)),
      'no gaps',
    );
    assert.ok(
      packets.some((p) => ((p.payload[0] ?? 0) & 0x1f) === 28),
      'FU-A for the large pictures',
    );
    const aus: AccessUnit[] = [];
    const dep = new H264Depacketizer(DEFAULT_RTSP_LIMITS, sdp.video.parameterSets, (au) => aus.push(au));
    for (const p of packets) dep.push(p);
    assert.equal(aus[0]?.keyframe, true, 'a new client starts at a keyframe');
    assert.equal(aus.length, packets.filter((p) => p.marker).length, 'one marker per picture');
    // 90 kHz: 12 fps is 7500 ticks a picture (the cached pictures since the last keyframe come at once, then the live ones).
    const spanTicks = ((aus.at(-1)?.rtpTimestamp ?? 0) - (aus[0]?.rtpTimestamp ?? 0) + 2 ** 32) % 2 ** 32;
    assert.ok(Math.abs(spanTicks / (aus.length - 1) - 7500) < 1500, `ticks per picture ${spanTicks / (aus.length - 1)}`);
    assert.equal((await c.request('GET_PARAMETER', url, { Session: session })).status, 200);
    const down = await c.request('TEARDOWN', url, { Session: session });
    assert.equal(down.status, 200);
    assert.equal(s.stats().sessions, 0);
    assert.equal(c.closed, false, 'TEARDOWN ends the session, not the connection (RFC 2326 10.11)');
    assert.equal((await c.request('GET_PARAMETER', url, { Session: session })).status, 454);
    const n = c.rtp.length;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(c.rtp.length - n <= 40, 'RTP stops after TEARDOWN');
  },
);

test(
  'caps: no CSeq is 400, an oversize header closes the connection, sessions over the cap get 503, an idle session times out',
  { skip },
  async () => {
    const s = await sim({ file: STREET, limits: { maxSessions: 1, sessionTimeoutS: 1 } });
    const url = s.url;
    const a = new RawClient(url);
    a.socket.write('OPTIONS * RTSP/1.0\r\n\r\n');
    await untilTrue('400', () => a.replies.some((r) => r.status === 400), 3000);
    const b = new RawClient(url);
    b.socket.write(`OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Big: ${'x'.repeat(10_000)}\r\n\r\n`);
    await untilTrue('closed after an oversize header', () => b.closed, 3000);
    assert.equal(b.replies[0]?.status, 400);
    const c = new RawClient(url);
    const d = new RawClient(url);
    const transport = { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' };
    assert.equal((await c.request('SETUP', `${url}/trackID=0`, transport)).status, 200);
    assert.equal((await d.request('SETUP', `${url}/trackID=0`, transport)).status, 503);
    // No request for longer than the 1 s timeout: the session ends, and its connection.
    await untilTrue('session timed out', () => s.stats().sessions === 0 && c.closed, 5000);
    assert.equal((await d.request('SETUP', `${url}/trackID=0`, transport)).status, 200);
  },
);

test('a client that does not read: pictures are dropped, the queue stays bounded, others are unaffected', { skip }, async (t) => {
  // Lossless noise, ~3 MB/s: past what the kernel's socket buffers hold for a reader that stopped (the 40 kB/s fixtures would fit for minutes).
  const dir = mkdtempSync(join(tmpdir(), 'sim-'));
  const noisy = join(dir, 'noise.mp4');
  const made = await run(findFfmpeg() ?? SYSTEM_FFMPEG, [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', "nullsrc=s=320x240:r=25,geq=lum='random(1)*255':cb=128:cr=128", '-t', '3'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-g', '25', '-pix_fmt', 'yuv420p', noisy],
  ]);
  assert.equal(made.code, 0, made.stderr);
  const cap = 256 * 1024;
  const s = await sim({ file: noisy, limits: { maxQueuedBytes: cap } });
  const slow = new RawClient(s.url);
  const setup = await slow.request('SETUP', `${s.url}/trackID=0`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
  const session = (setup.headers.get('session') ?? '').split(';')[0] ?? '';
  assert.equal((await slow.request('PLAY', s.url, { Session: session })).status, 200);
  slow.socket.pause();
  const fast = ingest({ source: { url: s.url }, width: 64, height: 48 });
  let peak = 0;
  const end = Date.now() + 6000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    peak = Math.max(peak, s.stats().maxQueuedBytes);
  }
  const st = s.stats();
  t.diagnostic(`sent ${st.framesSent}, dropped ${st.framesDropped}, queued peak ${(peak / 1024).toFixed(0)} KiB`);
  assert.ok(st.framesDropped >= 25, `dropped ${st.framesDropped}`);
  // The cap plus at most one picture (~115 kB of lossless 320x240, with RTP framing).
  assert.ok(peak > 0 && peak <= cap + 200 * 1024, `queued peak ${peak}`);
  assert.ok(fast.status().framesDelivered >= 75, `the reading client got ${fast.status().framesDelivered}`);
  assert.equal(s.stats().sessions, 2);
});

test(
  'npm-only: the bundled ffmpeg 4.1 reads the clip for the server and decodes for the ingest over RTSPS with Digest',
  { skip },
  async (t) => {
    const bundled = locateFfmpeg({ PATH: '' });
    if (bundled === undefined) return t.skip('the optional @ffmpeg-installer package is not installed on this platform');
    const ca = await createCa('Camera CA');
    const leaf = await issue(ca, { commonName: 'cam-02', usage: 'server', names: ['127.0.0.1'] });
    const s = await sim({
      ffmpegPath: bundled.path,
      tls: { certPem: leaf.certPem, keyPem: leaf.keyPem },
      credentials: { username: 'v', password: 'npm-only' },
    });
    const cam = ingest({
      source: { url: s.url, ca: ca.certPem, credentials: CameraCredentials.from('v', 'npm-only') },
      width: 128,
      height: 96,
      ffmpegPath: bundled.path,
    });
    const frame = await cam.next({ timeoutMs: 10_000 });
    assert.ok(frame, `no frame: ${JSON.stringify(cam.status().lastError)}`);
    assert.equal(frame.data.length, 128 * 96 * 3);
    // Through a loop of the 15 s clip would take too long here; the 5 s street clip loops in the next check.
    const s2 = await sim({ ffmpegPath: bundled.path, file: STREET });
    const cam2 = ingest({ source: { url: s2.url }, width: 64, height: 48, ffmpegPath: bundled.path });
    await untilTrue('frames past the first loop of the 5 s clip', () => cam2.status().framesDelivered >= 65, 15_000);
    assert.equal(s2.ffmpegPids.length, 1, 'ffmpeg loops the clip without restarting');
  },
);

test('bad inputs: a missing clip, a file that is not video, an ffmpeg that does not exist', { skip }, async () => {
  await assert.rejects(startBuiltinCameraServer({ file: '/nonexistent/clip.mp4' }), { code: 'CAMERA_SOURCE_INVALID' });
  const dir = mkdtempSync(join(tmpdir(), 'sim-'));
  const junk = join(dir, 'junk.mp4');
  writeFileSync(junk, 'not a video at all');
  await assert.rejects(startBuiltinCameraServer({ file: junk }), { code: 'CAMERA_SOURCE_INVALID' });
  await assert.rejects(startBuiltinCameraServer({ file: PAN, ffmpegPath: join(dir, 'no-ffmpeg') }), { code: 'FFMPEG_UNAVAILABLE' });
  await assert.rejects(startBuiltinCameraServer({ file: PAN, path: '/a b' }), { code: 'CAMERA_SOURCE_INVALID' });
});
