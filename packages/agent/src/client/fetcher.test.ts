import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlPlaneError } from '../errors.js';
import { rejectsWith } from '../../test/helpers/agent-errors.js';
import { FakeControlPlane } from '../../test/helpers/fake-control-plane.js';
import { createCa, issue, sha256Hex, type Leaf, type TestCa } from '../../test/helpers/pki.js';
import { DeviceClient } from './device-client.js';
import { HttpsFetcher, type FetchRequest, type TlsIdentity } from './fetcher.js';

let cp: FakeControlPlane;
let identity: TlsIdentity;
const servers: Server[] = [];

before(async () => {
  cp = await FakeControlPlane.start();
  const a = await cp.provision('cam-01');
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

async function rawServer(
  leaf: Leaf,
  ca: TestCa,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const s = createServer(
    { key: leaf.keyPem, cert: leaf.certPem, ca: [ca.certPem], requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      hits++;
      handler(req, res);
    },
  );
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `https://127.0.0.1:${(s.address() as AddressInfo).port}`, hits: () => hits };
}

const get = (path = '/device/v1/desired-state?wait=0'): FetchRequest => ({
  method: 'GET',
  path,
  timeoutMs: 5000,
  maxResponseBytes: 64 * 1024,
  channel: 'control',
});


test('a server whose certificate is not the pinned one is refused with SERVER_PIN_MISMATCH before any request is sent', async () => {
  // Same CA, other certificate: chain-valid, but not the pinned one.
  const sameCa = await rawServer(await issue(cp.ca, { commonName: 'impostor', usage: 'server', names: ['127.0.0.1'] }), cp.ca, (_q, r) =>
    r.end('{}'),
  );
  const f1 = new HttpsFetcher({ ...identity, url: sameCa.url });
  const err = await rejectsWith(f1.request(get()), 'SERVER_PIN_MISMATCH');
  assert.equal(err.details?.expected, cp.pin);
  f1.close();

  // Another CA altogether.
  const otherCa = await createCa('Evil CA');
  const evil = await rawServer(
    await issue(otherCa, { commonName: 'control-plane', usage: 'server', names: ['127.0.0.1'] }),
    otherCa,
    (_q, r) => r.end('{}'),
  );
  const f2 = new HttpsFetcher({ ...identity, url: evil.url });
  await rejectsWith(f2.request(get()), 'SERVER_PIN_MISMATCH');
  f2.close();
  assert.equal(sameCa.hits() + evil.hits(), 0, 'no HTTP request reached either impostor');
});

test('the pin compares normalised fingerprints (colons, upper case) and still needs the chain to the archive CA', async () => {
  const colons = cp.pin.toUpperCase().match(/../g)!.join(':');
  const f = new HttpsFetcher({ ...identity, serverCertSha256: colons });
  const res = await f.request(get());
  assert.equal(res.status, 403); // the provisioning certificate may only register: the TLS part worked
  f.close();

  const otherCa = await createCa('Unrelated CA');
  const f2 = new HttpsFetcher({ ...identity, caPem: otherCa.certPem });
  await rejectsWith(f2.request(get()), 'SERVER_UNTRUSTED');
  f2.close();
});

test('one keep-alive connection per channel carries many requests', async () => {
  const before = cp.connections;
  const f = new HttpsFetcher(identity);
  for (let i = 0; i < 5; i++) await f.request(get());
  await f.request({ ...get(), channel: 'poll' });
  await f.request({ ...get(), channel: 'poll' });
  assert.equal(cp.connections - before, 2);
  f.close();
});

test('answers over the size cap are cut off: declared or streamed', async () => {
  const leaf = cp.serverLeaf;
  const big = await rawServer(leaf, cp.ca, (req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
      return;
    }
    res.writeHead(200);
    res.end(Buffer.alloc(200 * 1024));
  });
  const f = new HttpsFetcher({ ...identity, url: big.url });
  await rejectsWith(f.request(get('/declared')), 'RESPONSE_TOO_LARGE');
  await rejectsWith(f.request(get('/chunked')), 'RESPONSE_TOO_LARGE');
  f.close();
});

test('timeouts, unreachable servers and cancellation are typed errors', async () => {
  const silent = await rawServer(cp.serverLeaf, cp.ca, () => undefined);
  const f = new HttpsFetcher({ ...identity, url: silent.url });
  await rejectsWith(f.request({ ...get(), timeoutMs: 200 }), 'CONTROL_PLANE_TIMEOUT');
  const ac = new AbortController();
  const p = f.request({ ...get(), signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await rejectsWith(p, 'ABORTED');
  f.close();

  const closed = new HttpsFetcher({ ...identity, url: 'https://127.0.0.1:1' });
  const err = await rejectsWith(closed.request(get()), 'CONTROL_PLANE_UNREACHABLE');
  assert.equal(err.details?.reason, 'ECONNREFUSED');
  closed.close();
});

test('a 4xx with an error body becomes ControlPlaneError with the server code; 5xx is CONTROL_PLANE_ERROR', async () => {
  const client = new DeviceClient(new HttpsFetcher(identity));
  await assert.rejects(
    client.heartbeat({} as never),
    (err: unknown) => err instanceof ControlPlaneError && err.code === 'CERT_WRONG_KIND' && err.status === 403,
  );
  client.close();

  const flaky = await rawServer(cp.serverLeaf, cp.ca, (_q, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"error":{"code":"STORAGE_UNAVAILABLE","message":"x"}}');
  });
  const c2 = new DeviceClient(new HttpsFetcher({ ...identity, url: flaky.url }));
  await rejectsWith(c2.desiredState(undefined, 0), 'CONTROL_PLANE_ERROR');
  c2.close();

  const garbage = await rawServer(cp.serverLeaf, cp.ca, (_q, res) => res.end('{"etag":1}'));
  const c3 = new DeviceClient(new HttpsFetcher({ ...identity, url: garbage.url }));
  await rejectsWith(c3.desiredState(undefined, 0), 'RESPONSE_INVALID');
  c3.close();
  assert.equal(sha256Hex(cp.serverLeaf.certPem), cp.pin);
});
