import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startTestServer, type TestServer } from './harness.js';
import { registerDevice, type RegisteredDevice } from './packages-publish.js';

/**
 * Issue 5: the control plane speaks HTTP/2 (ALPN h2) beside HTTP/1.1 on its
 * one port, so an appliance holds ONE mTLS connection: the long-poll waits
 * on one stream while heartbeats go on others. The same pipeline serves both
 * protocols: the device principal, its limits and the security headers.
 */

let s: TestServer;
let admin: string;
let device: RegisteredDevice;

before(async () => {
  s = await startTestServer();
  admin = await s.adminToken();
  device = await registerDevice(s, admin, 'h2-box');
});
after(async () => {
  await s.close();
});

function session(identity?: { cert: string; key: string }): Promise<{ h2: ClientHttp2Session; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: s.port,
      servername: 'localhost',
      ca: device.caPem,
      ALPNProtocols: ['h2'],
      ...(identity === undefined ? {} : { cert: identity.cert, key: identity.key }),
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => resolve({ h2: connect(`https://localhost:${s.port}`, { createConnection: () => socket }), socket }));
  });
}

function call(
  h2: ClientHttp2Session,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const stream = h2.request({
      ':method': method,
      ':path': path,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    });
    let text = '';
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', (d: Buffer) => (text += d.toString()));
    stream.on('end', () =>
      resolve({ status: Number(head[':status']), headers: head, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }),
    );
    stream.on('error', reject);
    stream.end(payload);
  });
}

test('ALPN offers h2: the user API answers over HTTP/2 with the same security headers', async () => {
  const { h2, socket } = await session();
  try {
    assert.equal(socket.alpnProtocol, 'h2');
    const health = await call(h2, 'GET', '/api/v1/health');
    assert.equal(health.status, 200);
    assert.match(String(health.headers['strict-transport-security']), /^max-age=31536000/);
    assert.equal(health.headers['x-content-type-options'], 'nosniff');
    const me = await call(h2, 'GET', '/api/v1/projects/default/devices', undefined, { authorization: `Bearer ${admin}` });
    assert.equal(me.status, 200);
    const anonymous = await call(h2, 'GET', '/api/v1/projects/default/devices');
    assert.equal(anonymous.status, 401);
  } finally {
    h2.close();
  }
});

test("a device's long-poll waits on one stream while its heartbeats answer on others of the same connection", async () => {
  const { h2 } = await session(device.identity);
  try {
    const first = await call(h2, 'GET', '/device/v1/desired-state?wait=0');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const etag = String(first.body['etag']);
    const started = Date.now();
    const poll = call(h2, 'GET', '/device/v1/desired-state?wait=2', undefined, { 'if-none-match': etag });
    const beat = await call(h2, 'POST', '/device/v1/heartbeat', {
      agentVersion: '0.1.0',
      uptimeSeconds: 5,
      integrity: { state: 'verified' },
      rootKeyProtection: 'key-file',
      disk: { totalBytes: 1e9, freeBytes: 5e8 },
      memory: { totalBytes: 1e9, freeBytes: 5e8 },
      cpu: { cores: 2, load1: 0.1 },
    });
    assert.equal(beat.status, 200, JSON.stringify(beat.body));
    assert.ok(Date.now() - started < 1500, 'the heartbeat did not wait behind the long-poll');
    const listed = await s.call<{ devices: { name: string; online: boolean }[] }>(
      'GET',
      '/api/v1/projects/default/devices',
      undefined,
      admin,
    );
    assert.equal(listed.body.devices.find((d) => d.name === 'h2-box')?.online, true);
    assert.equal((await poll).status, 304);
    assert.ok(Date.now() - started >= 1500, 'the long-poll waited its 2 s (less at most a fifth of jitter)');
    // A device certificate on the user API is still refused, over HTTP/2 too.
    assert.equal((await call(h2, 'GET', '/api/v1/projects/default/devices')).status, 403);
  } finally {
    h2.close();
  }
});

test('HTTP/1.1 clients (curl, the CLI) keep working on the same port', async () => {
  const r = await s.call('GET', '/api/v1/health');
  assert.equal(r.status, 200);
  const d = await device.call('GET', '/device/v1/desired-state?wait=0');
  assert.equal(d.status, 200);
});
