import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { rejectsWith } from '../../test/helpers/agent-errors.js';
import { FakeControlPlane } from '../../test/helpers/fake-control-plane.js';
import { createCa, issue, type Leaf, type TestCa } from '../../test/helpers/pki.js';
import { ControlPlaneFetcher } from './control-plane-fetcher.js';
import type { FetchRequest, TlsIdentity } from './fetcher.js';

/**
 * The agent's client over HTTP/2 (issue 5: one mTLS connection per appliance
 * carries the long-poll and everything else), against real TLS servers.
 */

let cp: FakeControlPlane;
let identity: TlsIdentity;
const servers: Http2SecureServer[] = [];

before(async () => {
  cp = await FakeControlPlane.start();
  const a = await cp.provision('cam-h2');
  identity = {
    url: cp.url,
    serverCertSha256: cp.pin,
    caPem: cp.ca.certPem,
    certPem: a.provisioning.certPem,
    keyPem: a.provisioning.keyPem,
  };
});
after(async () => {
  await cp.close();
  for (const s of servers) s.close();
});

/** An HTTP/2 server (HTTP/1.1 too) that counts connections and requests. */
async function h2Server(
  leaf: Leaf,
  ca: TestCa,
  handler: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
): Promise<{ url: string; hits: () => number; connections: () => number; close: () => void }> {
  let hits = 0;
  let connections = 0;
  const s = createSecureServer(
    { key: leaf.keyPem, cert: leaf.certPem, ca: [ca.certPem], requestCert: true, rejectUnauthorized: false, allowHTTP1: true },
    (req, res) => {
      hits++;
      handler(req, res);
    },
  );
  const sockets = new Set<TLSSocket>();
  s.on('secureConnection', (sock: TLSSocket) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(s.address() as AddressInfo).port}`,
    hits: () => hits,
    connections: () => connections,
    close: () => {
      for (const sock of sockets) sock.destroy();
    },
  };
}

const get = (path: string, channel: FetchRequest['channel'] = 'control', timeoutMs = 5000): FetchRequest => ({
  method: 'GET',
  path,
  timeoutMs,
  maxResponseBytes: 64 * 1024,
  channel,
});


test('a long-poll and many other requests run at once on ONE connection (HTTP/2 streams)', async () => {
  const srv = await h2Server(cp.serverLeaf, cp.ca, (req, res) => {
    if (req.url === '/poll') {
      setTimeout(() => res.end(JSON.stringify({ at: 'poll', version: req.httpVersion })), 400);
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ at: req.url, version: req.httpVersion }));
  });
  const f = new ControlPlaneFetcher({ ...identity, url: srv.url });
  const started = Date.now();
  const poll = f.request(get('/poll', 'poll'));
  // Each quick request answers while the poll still waits: nothing queues behind it.
  for (let i = 0; i < 5; i++) {
    const res = await f.request(get(`/quick/${i}`));
    assert.deepEqual(JSON.parse(res.body.toString()), { at: `/quick/${i}`, version: '2.0' });
  }
  assert.ok(Date.now() - started < 400, 'the quick requests did not wait for the long-poll');
  assert.equal(JSON.parse((await poll).body.toString()).at, 'poll');
  assert.equal(srv.connections(), 1);
  assert.equal(f.connections, 1);
  assert.equal(f.negotiated, 'h2');
  f.close();
});

test('the pin is checked before any HTTP/2 request: another certificate of the same CA, or another CA, is refused', async () => {
  const sameCa = await h2Server(await issue(cp.ca, { commonName: 'impostor', usage: 'server', names: ['127.0.0.1'] }), cp.ca, (_q, r) =>
    r.end('{}'),
  );
  const f1 = new ControlPlaneFetcher({ ...identity, url: sameCa.url });
  const err = await rejectsWith(f1.request(get('/x')), 'SERVER_PIN_MISMATCH');
  assert.equal(err.details?.expected, cp.pin);
  f1.close();
  const otherCa = await createCa('Evil CA');
  const evil = await h2Server(
    await issue(otherCa, { commonName: 'control-plane', usage: 'server', names: ['127.0.0.1'] }),
    otherCa,
    (_q, r) => r.end('{}'),
  );
  const f2 = new ControlPlaneFetcher({ ...identity, url: evil.url });
  await rejectsWith(f2.request(get('/x')), 'SERVER_PIN_MISMATCH');
  f2.close();
  assert.equal(sameCa.hits() + evil.hits(), 0, 'no request reached either impostor');
  // The right pin but a CA the archive does not name.
  const f3 = new ControlPlaneFetcher({ ...identity, caPem: otherCa.certPem });
  await rejectsWith(f3.request(get('/device/v1/desired-state?wait=0')), 'SERVER_UNTRUSTED');
  f3.close();
});

test('a control plane that offers only HTTP/1.1 is spoken to over HTTP/1.1 (the pin still checked)', async () => {
  const old = await FakeControlPlane.start({ http2: false });
  try {
    const a = await old.provision('cam-h1');
    const f = new ControlPlaneFetcher({
      url: old.url,
      serverCertSha256: old.pin,
      caPem: old.ca.certPem,
      certPem: a.provisioning.certPem,
      keyPem: a.provisioning.keyPem,
    });
    const res = await f.request(get('/device/v1/desired-state?wait=0'));
    assert.equal(res.status, 403); // a provisioning certificate may only register: TLS and HTTP worked
    assert.equal(f.negotiated, 'http/1.1');
    f.close();
    const wrongPin = new ControlPlaneFetcher({
      url: old.url,
      serverCertSha256: cp.pin,
      caPem: old.ca.certPem,
      certPem: a.provisioning.certPem,
      keyPem: a.provisioning.keyPem,
    });
    await rejectsWith(wrongPin.request(get('/x')), 'SERVER_PIN_MISMATCH');
    wrongPin.close();
  } finally {
    await old.close();
  }
});

test('answers over the size cap are cut off over HTTP/2: declared or streamed', async () => {
  const big = await h2Server(cp.serverLeaf, cp.ca, (req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
      return;
    }
    res.writeHead(200);
    res.end(Buffer.alloc(200 * 1024));
  });
  const f = new ControlPlaneFetcher({ ...identity, url: big.url });
  await rejectsWith(f.request(get('/declared')), 'RESPONSE_TOO_LARGE');
  await rejectsWith(f.request(get('/streamed')), 'RESPONSE_TOO_LARGE');
  // The connection survives a refused answer: only that stream was cancelled.
  await rejectsWith(f.request(get('/streamed')), 'RESPONSE_TOO_LARGE');
  assert.equal(big.connections(), 1);
  f.close();
});

test('a silent server times out and the next request dials anew; cancellation and refusals are typed', async () => {
  let silent = true;
  const srv = await h2Server(cp.serverLeaf, cp.ca, (_q, res) => {
    if (!silent) res.end('{}');
  });
  const f = new ControlPlaneFetcher({ ...identity, url: srv.url });
  await rejectsWith(f.request(get('/a', 'control', 200)), 'CONTROL_PLANE_TIMEOUT');
  silent = false;
  assert.equal((await f.request(get('/b'))).status, 200);
  assert.equal(srv.connections(), 2, 'the suspect connection was dropped after the timeout');

  silent = true;
  const ac = new AbortController();
  const p = f.request({ ...get('/c'), signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await rejectsWith(p, 'ABORTED');
  silent = false;
  assert.equal((await f.request(get('/d'))).status, 200, 'a cancelled stream leaves the connection usable');
  assert.equal(srv.connections(), 2);

  // The server drops every connection: the next request reconnects.
  srv.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await f.request(get('/e'))).status, 200);
  assert.equal(srv.connections(), 3);
  f.close();

  const closed = new ControlPlaneFetcher({ ...identity, url: 'https://127.0.0.1:1' });
  const err = await rejectsWith(closed.request(get('/x')), 'CONTROL_PLANE_UNREACHABLE');
  assert.equal(err.details?.reason, 'ECONNREFUSED');
  closed.close();
  await rejectsWith(closed.request(get('/x')), 'ABORTED');
});

test('an upload streams over the same connection and ends with the answer', async () => {
  const srv = await h2Server(cp.serverLeaf, cp.ca, (req, res) => {
    if (req.url !== '/push') return void res.end('{}');
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => res.end(JSON.stringify({ bytes })));
  });
  const f = new ControlPlaneFetcher({ ...identity, url: srv.url });
  await f.request(get('/warm'));
  const up = f.upload({ path: '/push', contentType: 'application/octet-stream', timeoutMs: 5000, maxResponseBytes: 1024 });
  // The stream opens once the connection is there; writes before then are refused (the caller drops frames).
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(up.write(Buffer.alloc(1000, 1)), true);
  up.write(Buffer.alloc(500, 2));
  up.end();
  const res = await up.response;
  assert.deepEqual(JSON.parse(res.body.toString()), { bytes: 1500 });
  assert.equal(srv.connections(), 1);
  f.close();
});
