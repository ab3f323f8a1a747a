import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { CameraCredentials } from '../src/camera/credentials.js';
import type { DecoderProcess, Spawner } from '../src/camera/decoder.js';
import { CameraError } from '../src/camera/errors.js';
import { CameraIngest } from '../src/camera/ingest.js';
import { openRtspH264, type RtspClientOptions } from '../src/camera/rtsp/client.js';
import { createCa, issue } from './helpers/pki.js';

/**
 * The RTSP client against a scripted fake camera on a real socket: every
 * malformed or hostile reply must end in a typed CameraError (never a
 * crash, never a hang), and the happy path must keep the session alive.
 */

interface Req {
  method: string;
  uri: string;
  cseq: string;
  headers: Map<string, string>;
}

type Handler = (req: Req, sock: Socket) => void;

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function fakeCamera(handler: Handler, tls?: { cert: string; key: string }): Promise<{ url: string; requests: Req[] }> {
  const requests: Req[] = [];
  const onSocket = (sock: Socket): void => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end).split('\r\n');
        buf = buf.slice(end + 4);
        const [method = '', uri = ''] = (head[0] ?? '').split(' ');
        const headers = new Map<string, string>();
        for (const line of head.slice(1)) {
          const i = line.indexOf(':');
          headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
        }
        const req = { method, uri, cseq: headers.get('cseq') ?? '', headers };
        requests.push(req);
        if (method.startsWith('RTSP/')) continue; // the client's answer to our ANNOUNCE
        handler(req, sock);
      }
    });
  };
  const server = tls === undefined ? createNetServer(onSocket) : createTlsServer({ cert: tls.cert, key: tls.key }, onSocket);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `${tls === undefined ? 'rtsp' : 'rtsps'}://127.0.0.1:${port}/cam`, requests };
}

function reply(sock: Socket, cseq: string, status = '200 OK', headers: Record<string, string> = {}, body = ''): void {
  const lines = [`RTSP/1.0 ${status}`, `CSeq: ${cseq}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== '') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  sock.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

const SDP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=fake',
  't=0 0',
  'm=video 0 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
  'a=fmtp:96 packetization-mode=1',
  'a=control:track1',
  '',
].join('\r\n');

function rtp(seq: number, ts: number, payload: Buffer, marker = true): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | 96;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(0x1234, 8);
  const packet = Buffer.concat([h, payload]);
  const frame = Buffer.alloc(4);
  frame[0] = 0x24;
  frame[1] = 0;
  frame.writeUInt16BE(packet.length, 2);
  return Buffer.concat([frame, packet]);
}

/** A well-behaved camera; `override` replaces the answer to one method. */
function camera(override: Partial<Record<string, Handler>> = {}, onPlay?: (sock: Socket) => void): Handler {
  return (req, sock) => {
    const o = override[req.method];
    if (o !== undefined) return o(req, sock);
    switch (req.method) {
      case 'OPTIONS':
        return reply(sock, req.cseq, '200 OK', { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' });
      case 'DESCRIBE':
        return reply(sock, req.cseq, '200 OK', { 'Content-Type': 'application/sdp', 'Content-Base': `${req.uri}/` }, SDP);
      case 'SETUP':
        return reply(sock, req.cseq, '200 OK', { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1', Session: 'F00D;timeout=60' });
      case 'PLAY':
        reply(sock, req.cseq, '200 OK', { Session: 'F00D' });
        return onPlay?.(sock);
      default:
        return reply(sock, req.cseq);
    }
  };
}

// Short enough to keep the suite quick, long enough for a loaded CI machine; the cases that
// test a timeout shorten it further.
const FAST = { responseTimeoutMs: 3000, connectTimeoutMs: 3000, stallTimeoutMs: 1500 };

async function expectCode(options: RtspClientOptions, code: string, label: string): Promise<CameraError> {
  try {
    const stream = await openRtspH264(options, () => undefined);
    const why = await stream.closed;
    assert.equal(why.code, code, `${label}: ${why.message}`);
    return why;
  } catch (err) {
    assert.ok(err instanceof CameraError, `${label}: ${String(err)}`);
    assert.equal(err.code, code, `${label}: ${err.message}`);
    return err;
  }
}

test('malformed and hostile replies end in RTSP_PROTOCOL_ERROR, never a crash or a hang', async () => {
  const raw =
    (text: string): Handler =>
    (_req, sock) =>
      sock.write(text);
  const cases: [string, Handler][] = [
    ['an HTTP server', raw('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')],
    ['a 10 kB header line', camera({ OPTIONS: (r, s) => reply(s, r.cseq, '200 OK', { X: 'a'.repeat(10_000) }) })],
    [
      '100 headers',
      camera({ OPTIONS: (r, s) => reply(s, r.cseq, '200 OK', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`X-${i}`, '1']))) }),
    ],
    [
      'a 50 MB SDP announced',
      camera({
        DESCRIBE: (r, s) =>
          s.write(`RTSP/1.0 200 OK\r\nCSeq: ${r.cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 50000000\r\n\r\nv=0`),
      }),
    ],
    ['the wrong CSeq', camera({ OPTIONS: (_r, s) => reply(s, '999') })],
    ['HTML instead of SDP', camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '200 OK', { 'Content-Type': 'text/html' }, '<html></html>') })],
    ['broken SDP', camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '200 OK', { 'Content-Type': 'application/sdp' }, 'garbage') })],
    [
      'SETUP without Session',
      camera({ SETUP: (r, s) => reply(s, r.cseq, '200 OK', { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' }) }),
    ],
    [
      'a Session id with spaces',
      camera({
        SETUP: (r, s) => reply(s, r.cseq, '200 OK', { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1', Session: 'a b;timeout=60' }),
      }),
    ],
    [
      'UDP transport forced',
      camera({ SETUP: (r, s) => reply(s, r.cseq, '200 OK', { Transport: 'RTP/AVP;unicast;client_port=5000-5001', Session: 'F00D' }) }),
    ],
    [
      'a control URL with user-info',
      camera({
        DESCRIBE: (r, s) =>
          reply(
            s,
            r.cseq,
            '200 OK',
            { 'Content-Type': 'application/sdp' },
            SDP.replace('a=control:track1', 'a=control:rtsp://evil:pw@127.0.0.1/x'),
          ),
      }),
    ],
    [
      'a malformed challenge',
      camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '401 Unauthorized', { 'WWW-Authenticate': 'Digest realm="unterminated' }) }),
    ],
    ['RTP version 0 after PLAY', camera({}, (s) => s.write(Buffer.from([0x24, 0, 0, 12, ...Buffer.alloc(12)])))],
    ['an interleaved frame over the cap', camera({}, (s) => s.write(Buffer.from([0x24, 0, 0xff, 0xff])))],
    ['a truncated STAP-A', camera({}, (s) => s.write(rtp(1, 0, Buffer.from([0x78, 0, 50, 0x65]))))],
  ];
  for (const [label, handler] of cases) {
    const cam = await fakeCamera(handler);
    const creds = CameraCredentials.from('viewer', 'pw-not-shown');
    const err = await expectCode(
      { url: new URL(cam.url), credentials: creds, limits: { ...FAST, maxInterleavedFrame: 4096 } },
      'RTSP_PROTOCOL_ERROR',
      label,
    );
    assert.ok(!creds.appearsIn(err.message), label);
  }
});

test('refusals, silence and dropped connections have their own codes', async () => {
  const cases: [string, Handler | 'closed-port', string, Partial<typeof FAST>?][] = [
    ['404', camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '404 Not Found') }), 'RTSP_REQUEST_REFUSED'],
    [
      'a redirect (credentials must not follow it)',
      camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '302 Moved', { Location: 'rtsp://elsewhere/' }) }),
      'RTSP_REQUEST_REFUSED',
    ],
    [
      'no video track',
      camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '200 OK', { 'Content-Type': 'application/sdp' }, 'v=0\r\nm=audio 0 RTP/AVP 0\r\n') }),
      'RTSP_UNSUPPORTED_MEDIA',
    ],
    [
      'only Negotiate auth',
      camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '401 Unauthorized', { 'WWW-Authenticate': 'Negotiate' }) }),
      'RTSP_AUTH_FAILED',
    ],
    [
      'Basic only, plain RTSP',
      camera({ DESCRIBE: (r, s) => reply(s, r.cseq, '401 Unauthorized', { 'WWW-Authenticate': 'Basic realm="cam"' }) }),
      'RTSP_AUTH_INSECURE',
    ],
    ['no answer', camera({ DESCRIBE: () => undefined }), 'CAMERA_UNREACHABLE', { responseTimeoutMs: 500 }],
    ['closes mid-reply', camera({ DESCRIBE: (r, s) => s.end(`RTSP/1.0 200 OK\r\nCSeq: ${r.cseq}\r\nContent-Le`) }), 'CAMERA_UNREACHABLE'],
    ['nothing listening', 'closed-port', 'CAMERA_UNREACHABLE'],
    ['no RTP after PLAY', camera(), 'CAMERA_STREAM_STALLED'],
    ['closes after PLAY', camera({}, (s) => s.end()), 'CAMERA_UNREACHABLE'],
  ];
  for (const [label, handler, code, limits] of cases) {
    let url: string;
    if (handler === 'closed-port') {
      const s = createNetServer();
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      url = `rtsp://127.0.0.1:${(s.address() as AddressInfo).port}/cam`;
      await new Promise<void>((r) => s.close(() => r()));
    } else {
      url = (await fakeCamera(handler)).url;
    }
    await expectCode(
      { url: new URL(url), credentials: CameraCredentials.from('viewer', 'pw'), limits: { ...FAST, ...limits } },
      code,
      label,
    );
  }
});

test('a good session: H.264 arrives, keep-alives carry the session, server requests get 501, TEARDOWN on close', async () => {
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  const cam = await fakeCamera(
    camera(
      { SETUP: (r, s) => reply(s, r.cseq, '200 OK', { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1', Session: 'F00D;timeout=2' }) },
      (s) => {
        s.write('ANNOUNCE rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 77\r\n\r\n');
        timer = setInterval(() => {
          const ts = seq * 9000;
          s.write(
            Buffer.concat([
              rtp(seq++, ts, Buffer.from([0x67, 0x42, 0, 0x1e]), false),
              rtp(seq++, ts, Buffer.from([0x68, 0xce]), false),
              rtp(seq++, ts, Buffer.from([0x65, 1, 2, 3])),
            ]),
          );
        }, 50);
      },
    ),
  );
  const aus: Buffer[] = [];
  const stream = await openRtspH264({ url: new URL(cam.url), limits: FAST }, (au) => aus.push(au.data));
  await new Promise((r) => setTimeout(r, 2300));
  assert.ok(aus.length > 20, `${aus.length} access units`);
  assert.deepEqual(aus[0], Buffer.from([0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 1, 2, 3]));
  const keepalives = cam.requests.filter((r) => r.method === 'GET_PARAMETER');
  assert.ok(keepalives.length >= 1, 'a keep-alive within the 2 s session timeout');
  assert.equal(keepalives[0]?.headers.get('session'), 'F00D');
  assert.equal(cam.requests.find((r) => r.method === 'SETUP')?.uri, `${cam.url}/track1`);
  assert.equal(cam.requests.find((r) => r.method === 'SETUP')?.headers.get('transport'), 'RTP/AVP/TCP;unicast;interleaved=0-1');
  await stream.close();
  clearInterval(timer);
  assert.equal(cam.requests.at(-1)?.method, 'TEARDOWN');
  const answer = cam.requests.find((r) => r.method.startsWith('RTSP/'));
  assert.deepEqual([answer?.uri, answer?.cseq], ['501', '77'], 'the ANNOUNCE got 501 Not Implemented');
  assert.equal((await stream.closed).details?.['aborted'], true);
});

test('Digest SHA-256 with qop, a stale nonce renewed, and a wrong password refused without leaking it', async () => {
  const realm = 'cam';
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
  let nonce = 'n-1';
  let staleSent = false;
  const check = (req: Req, password: string): boolean => {
    const h = req.headers.get('authorization') ?? '';
    const f = (k: string): string => new RegExp(`${k}="?([^",]*)"?`).exec(h)?.[1] ?? '';
    const ha1 = sha(`viewer:${realm}:${password}`);
    const ha2 = sha(`${req.method}:${f('uri')}`);
    return f('nonce') === nonce && f('uri') === req.uri && f('response') === sha(`${ha1}:${nonce}:${f('nc')}:${f('cnonce')}:auth:${ha2}`);
  };
  const challenge = (stale: boolean): Record<string, string> => ({
    'WWW-Authenticate': `Digest realm="${realm}", nonce="${nonce}", qop="auth", algorithm=SHA-256${stale ? ', stale=true' : ''}`,
  });
  const guarded =
    (password: string): Handler =>
    (req, sock) => {
      if (req.method === 'OPTIONS') return camera()(req, sock);
      if (req.method === 'SETUP' && !staleSent) {
        staleSent = true;
        nonce = 'n-2';
        return reply(sock, req.cseq, '401 Unauthorized', challenge(true));
      }
      if (!check(req, password)) return reply(sock, req.cseq, '401 Unauthorized', challenge(false));
      return camera()(req, sock);
    };
  const good = await fakeCamera(guarded('right horse'));
  const stream = await openRtspH264(
    { url: new URL(good.url), credentials: CameraCredentials.from('viewer', 'right horse'), limits: FAST },
    () => undefined,
  );
  await stream.close();
  assert.deepEqual(
    good.requests.map((r) => r.method),
    ['OPTIONS', 'DESCRIBE', 'DESCRIBE', 'SETUP', 'SETUP', 'PLAY', 'TEARDOWN'],
  );

  staleSent = true;
  const bad = await fakeCamera(guarded('right horse'));
  const wrong = CameraCredentials.from('viewer', 'battery staple');
  const err = await expectCode({ url: new URL(bad.url), credentials: wrong, limits: FAST }, 'RTSP_AUTH_FAILED', 'wrong password');
  assert.ok(!wrong.appearsIn(err.message) && !err.message.includes('viewer'));
  assert.equal(bad.requests.filter((r) => r.method === 'DESCRIBE').length, 2, 'one try with the password, no retry loop');
});

test('RTSPS: a certificate for another host name, or a camera without TLS, is refused', async () => {
  const ca = await createCa();
  const leaf = await issue(ca, { commonName: 'cam-07', usage: 'server', names: ['cam-07.example'] });
  const cam = await fakeCamera(camera(), { cert: leaf.certPem, key: leaf.keyPem });
  const err = await expectCode({ url: new URL(cam.url), ca: ca.certPem, limits: FAST }, 'RTSP_TLS_VERIFY_FAILED', 'wrong host');
  assert.equal(err.details?.['tlsError'], 'ERR_TLS_CERT_ALTNAME_INVALID');
  const plain = await fakeCamera(camera());
  await expectCode(
    { url: new URL(plain.url.replace('rtsp:', 'rtsps:')), ca: ca.certPem, limits: { ...FAST, connectTimeoutMs: 1000 } },
    'RTSP_TLS_FAILED',
    'plain camera',
  );
});

test('CameraIngest.stop() ends a playing session with TEARDOWN; ffmpeg gets only H.264 on stdin', async () => {
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  const cam = await fakeCamera(
    camera({}, (s) => {
      timer = setInterval(() => s.write(rtp(seq++, seq * 3000, Buffer.from([0x65, 0x88, 0x84]))), 20);
    }),
  );
  const written: Buffer[] = [];
  const spawned: (readonly string[])[] = [];
  const spawn: Spawner = (_cmd, args) => {
    spawned.push(args);
    const stdin = new PassThrough();
    stdin.on('data', (d: Buffer) => written.push(d));
    const p = Object.assign(new EventEmitter(), {
      pid: 1,
      stdin,
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      kill: () => {
        setImmediate(() => p.emit('exit', null, 'SIGTERM'));
        return true;
      },
    }) as EventEmitter & DecoderProcess;
    return p;
  };
  const ingest = new CameraIngest({ source: { url: cam.url }, width: 16, height: 16, ffmpegPath: 'ffmpeg' }, { spawn });
  ingest.start();
  const end = Date.now() + 3000;
  while (written.length < 5 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(written.length >= 5, 'access units reach the decoder');
  assert.deepEqual(written[0]?.subarray(0, 5), Buffer.from([0, 0, 0, 1, 0x65]));
  assert.ok(!spawned.flat().some((a) => a.includes('rtsp') || a.includes('127.0.0.1')));
  await ingest.stop();
  clearInterval(timer);
  assert.equal(cam.requests.at(-1)?.method, 'TEARDOWN');
  assert.equal(cam.requests.at(-1)?.headers.get('session'), 'F00D');
});
