import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Decrypter } from 'age-encryption';
import { deviceApi } from '@sightline/protocol';
import type { Principal } from '../src/http/router.js';
import type { KeyCaller } from '../src/kms/kms.service.js';
import { createLogger } from '../src/logging/logger.js';
import { SecretError } from '../src/secrets/secret-errors.js';
import { createCertificateAuthority, pkcs8ToPem } from '../src/tls/ca.js';
import { deviceCall, keyAndCsr } from './device-client.js';
import { allTableText, engines, filesUnder, startTestServer, type TestServer } from './harness.js';

interface Err {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
interface Camera {
  name: string;
  url: string;
  scheme: string;
  state: 'active' | 'paused';
  credentials: string;
  secret: string | null;
  description: string;
  tags: Record<string, string>;
  tlsCa: { certificates: number; sha256: string } | null;
  warnings: { code: string; message: string }[];
  boundDevices?: number;
}
interface AuditList {
  events: { event: { action: string; outcome: string; errorCode: string | null; parameters: Record<string, unknown> } }[];
}

const base = '/api/v1/projects/default/cameras';

// Credentials used below; none may reach a response, the audit trail, the logs, the data folder or the database.
const CAM_USER = 'svc-lobby-7731-viewer';
const CAM_PASSWORD = 'saffron-Grebe-2290-mole';
const ROTATED_PASSWORD = 'umber-Avocet-6618-fen';
const URL_USER = 'urluser-Wren';
const URL_PASSWORD = 'hunter2-Wren-5501-weir';
const QUERY_TOKEN = 'qtok-Sanderling-8842-bar';
const NEEDLES = [CAM_USER, CAM_PASSWORD, ROTATED_PASSWORD, URL_USER, URL_PASSWORD, QUERY_TOKEN];


/** Every row of every table, as text (PostgreSQL keeps its files elsewhere). */

function assertClean(what: string, value: unknown): void {
  const text = JSON.stringify(value);
  for (const n of NEEDLES) assert.ok(!text.includes(n), `${what} carries "${n}"`);
}

async function openArchive(archive: string, passphrase: string): Promise<deviceApi.ProvisioningArchive> {
  const d = new Decrypter();
  d.addPassphrase(passphrase);
  return deviceApi.provisioningArchive.parse(JSON.parse(await d.decrypt(Buffer.from(archive, 'base64'), 'text')));
}

for (const engine of await engines()) {
  describe(`[${engine}] cameras (data sources)`, () => {
    let s: TestServer;
    let admin: string;
    const logLines: string[] = [];
    const responses: unknown[] = [];

    const call = async <T = Record<string, unknown>>(
      method: string,
      path: string,
      body?: unknown,
    ): Promise<{ status: number; body: T }> => {
      const r = await s.call<T>(method, path, body, admin);
      responses.push(r.body);
      return r;
    };
    const cameraNames = async (): Promise<string[]> => (await call<{ cameras: Camera[] }>('GET', base)).body.cameras.map((c) => c.name);
    const secretNames = async (): Promise<string[]> =>
      (await call<{ secrets: { name: string }[] }>('GET', '/api/v1/projects/default/secrets')).body.secrets.map((x) => x.name);
    const audit = async (action: string): Promise<AuditList['events']> =>
      (await call<AuditList>('GET', `/api/v1/audit/events?action=${encodeURIComponent(action)}&limit=1000`)).body.events;

    before(async () => {
      s = await startTestServer({ engine, logger: createLogger('debug', (l) => logLines.push(l)) });
      admin = await s.adminToken();
    });
    after(() => s.close());

    test('a URL with user:pass@ is refused with CREDENTIALS_IN_URL, and neither a camera nor a secret is written', async () => {
      for (const url of [
        `rtsp://${URL_USER}:${URL_PASSWORD}@10.0.0.5:554/stream1`,
        `rtsps://${URL_USER}@cam.local/live`,
        `file://${URL_USER}:${URL_PASSWORD}@host/clip.mp4`,
      ]) {
        const r = await call<Err>('POST', base, { name: 'leaky', url, username: CAM_USER, password: CAM_PASSWORD });
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 'CREDENTIALS_IN_URL');
        assert.equal(r.body.error.details?.['field'], 'body.url');
        assert.match(r.body.error.message, /out of url into the credentials field \(--username\/--password-stdin\)/);
      }
      assert.deepEqual(await cameraNames(), []);
      assert.deepEqual(await secretNames(), []);
    });

    test('a credential in the query is refused; so are http://, a bad file URL, half credentials and sensitive text', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ url: `rtsp://cam.local/stream?token=${QUERY_TOKEN}` }, 'CREDENTIALS_IN_URL'],
        [{ url: `rtsps://cam.local/stream?user=x&password=${QUERY_TOKEN}` }, 'CREDENTIALS_IN_URL'],
        [{ url: `file:///clips/a.mp4?api_key=${QUERY_TOKEN}` }, 'CREDENTIALS_IN_URL'],
        [{ url: 'http://cam.local/stream' }, 'URL_SCHEME_NOT_ALLOWED'],
        [{ url: 'https://cam.local/stream' }, 'URL_SCHEME_NOT_ALLOWED'],
        [{ url: 'file://nas/clips/a.mp4' }, 'URL_INVALID'],
        [{ url: `rtsp://cam.local/${'a'.repeat(2100)}` }, 'URL_INVALID'],
        [{ url: 'rtsps://cam.local/s', username: CAM_USER }, 'CAMERA_CREDENTIALS_INCOMPLETE'],
        [{ url: 'rtsps://cam.local/s', password: CAM_PASSWORD }, 'CAMERA_CREDENTIALS_INCOMPLETE'],
        [{ url: 'rtsps://cam.local/s', description: 'call ops@example.com' }, 'SENSITIVE_FREE_TEXT'],
        [{ url: 'rtsps://cam.local/s', tags: { note: 'password=letmein99' } }, 'SENSITIVE_FREE_TEXT'],
        [{ url: 'rtsp://cam.local/s', tlsCaPem: 'not a certificate' }, 'CAMERA_TLS_CA_INVALID'],
      ];
      for (const [extra, code] of cases) {
        const r = await call<Err>('POST', base, { name: 'refused', ...extra });
        assert.equal(r.status, 400, `${JSON.stringify(extra).slice(0, 80)}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, code, JSON.stringify(extra).slice(0, 80));
      }
      const longName = await call<Err>('POST', base, { name: 'n'.repeat(58), url: 'rtsps://cam.local/s' });
      assert.equal(longName.body.error.code, 'VALIDATION_FAILED');
      assert.deepEqual(await cameraNames(), []);
      assert.deepEqual(await secretNames(), []);
    });

    test('rtsp:// is accepted with the RTSP_UNENCRYPTED warning in create, describe and list; the credentials go to secret camera-NAME', async () => {
      const created = await call<Camera>('POST', base, {
        name: 'lobby',
        url: 'rtsp://10.0.0.5:554/Streaming/Channels/101',
        description: 'Lobby entrance',
        tags: { site: 'north' },
        username: CAM_USER,
        password: CAM_PASSWORD,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.url, 'rtsp://10.0.0.5:554/Streaming/Channels/101');
      assert.equal(created.body.credentials, 'stored in secret camera-lobby');
      assert.equal(created.body.state, 'active');
      const described = await call<Camera>('GET', `${base}/lobby`);
      const listed = (await call<{ cameras: Camera[] }>('GET', base)).body.cameras.find((c) => c.name === 'lobby');
      for (const view of [created.body, described.body, listed]) {
        assert.deepEqual(
          view?.warnings.map((w) => w.code),
          ['RTSP_UNENCRYPTED'],
        );
        assert.match(view?.warnings[0]?.message ?? '', /in clear.*prefer rtsps:\/\//i);
      }
      assert.equal(described.body.credentials, 'stored in secret camera-lobby');
      assert.equal(described.body.boundDevices, 0);
      assert.deepEqual(await secretNames(), ['camera-lobby']);
      // The credentials are in the secrets store, as { username, password }, readable by a person with MFA.
      const value = await s.call<{ value: unknown; version: number }>(
        'POST',
        '/api/v1/projects/default/secrets/camera-lobby/value',
        undefined,
        admin,
      );
      assert.equal(value.status, 200, JSON.stringify(value.body));
      assert.deepEqual(value.body.value, { username: CAM_USER, password: CAM_PASSWORD });
      // The row keeps only the secret's name.
      const row = await s.plane.services.store.db.selectFrom('cameras').selectAll().where('name', '=', 'lobby').executeTakeFirstOrThrow();
      assert.equal(row.secret_name, 'camera-lobby');
      assertClean('the camera row', row);
    });

    test('rtsps:// carries no warning (with a CA to trust); file:// is marked FILE_SOURCE; a camera without credentials says none', async () => {
      const ca = await createCertificateAuthority('Dock cameras CA');
      const secure = await call<Camera>('POST', base, { name: 'dock', url: 'rtsps://dock-cam.local:322/stream1', tlsCaPem: ca.certPem });
      assert.equal(secure.status, 201, JSON.stringify(secure.body));
      assert.deepEqual(secure.body.warnings, []);
      assert.equal(secure.body.credentials, 'none');
      assert.equal(secure.body.secret, null);
      assert.equal(secure.body.tlsCa?.certificates, 1);
      assert.equal(secure.body.tlsCa?.sha256, new X509Certificate(ca.certPem).fingerprint256.replaceAll(':', '').toLowerCase());
      const sim = await call<Camera>('POST', base, { name: 'sim', url: 'file:///var/lib/sightline/clips/lobby.mp4' });
      assert.equal(sim.status, 201, JSON.stringify(sim.body));
      assert.deepEqual(
        sim.body.warnings.map((w) => w.code),
        ['FILE_SOURCE'],
      );
      assert.equal(sim.body.scheme, 'file');
      // A private key pasted as the CA is refused, never kept; a CA on plain rtsp:// is refused too.
      const withKey = await call<Err>('POST', base, {
        name: 'k',
        url: 'rtsps://x.local/s',
        tlsCaPem: `${ca.certPem}${pkcs8ToPem(ca.keyPkcs8 ?? new Uint8Array())}`,
      });
      assert.equal(withKey.body.error.code, 'CAMERA_TLS_CA_INVALID');
      const onRtsp = await call<Err>('POST', base, { name: 'k', url: 'rtsp://x.local/s', tlsCaPem: ca.certPem });
      assert.equal(onRtsp.body.error.code, 'CAMERA_TLS_CA_INVALID');
      const dup = await call<Err>('POST', base, { name: 'dock', url: 'rtsps://other.local/s' });
      assert.deepEqual([dup.status, dup.body.error.code], [409, 'ALREADY_EXISTS']);
    });

    test('all or nothing: when the secrets store refuses, the camera is not written either', async () => {
      // A secret of that name already exists (made by hand): the secrets store refuses the camera's.
      const pre = await s.call('POST', '/api/v1/projects/default/secrets', { name: 'camera-gate', value: 'unrelated' }, admin);
      assert.equal(pre.status, 201);
      const r = await call<Err>('POST', base, { name: 'gate', url: 'rtsps://gate.local/s', username: CAM_USER, password: CAM_PASSWORD });
      assert.deepEqual([r.status, r.body.error.code], [409, 'ALREADY_EXISTS'], JSON.stringify(r.body));
      assert.match(r.body.error.message, /camera-gate/);
      assert.ok(!(await cameraNames()).includes('gate'));
      const kept = await s.call<{ value: unknown; version: number }>(
        'POST',
        '/api/v1/projects/default/secrets/camera-gate/value',
        undefined,
        admin,
      );
      assert.deepEqual([kept.body.value, kept.body.version], ['unrelated', 1]);
      assert.equal((await s.call('DELETE', '/api/v1/projects/default/secrets/camera-gate', undefined, admin)).status, 200);
      // Without the clash it goes through.
      const ok = await call<Camera>('POST', base, {
        name: 'gate',
        url: 'rtsps://gate.local/s',
        username: CAM_USER,
        password: CAM_PASSWORD,
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
    });

    test('update: URL (warnings follow), description, tags, credential rotation (secret version + 1), pause and resume', async () => {
      const rotated = await call<Camera>('PATCH', `${base}/lobby`, {
        username: CAM_USER,
        password: ROTATED_PASSWORD,
        tags: { floor: '1' },
        removeTags: ['site'],
      });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.deepEqual(rotated.body.tags, { floor: '1' });
      const secret = await s.call<{ value: { password: string }; version: number }>(
        'POST',
        '/api/v1/projects/default/secrets/camera-lobby/value',
        undefined,
        admin,
      );
      assert.deepEqual([secret.body.value.password, secret.body.version], [ROTATED_PASSWORD, 2]);
      const secured = await call<Camera>('PATCH', `${base}/lobby`, {
        url: 'rtsps://10.0.0.5:322/Streaming/Channels/101',
        description: 'Lobby, now over TLS',
      });
      assert.deepEqual(secured.body.warnings, []);
      assert.equal(secured.body.description, 'Lobby, now over TLS');
      const leaky = await call<Err>('PATCH', `${base}/lobby`, { url: `rtsps://${URL_USER}:${URL_PASSWORD}@10.0.0.5/x` });
      assert.equal(leaky.body.error.code, 'CREDENTIALS_IN_URL');
      // Credentials added to a camera that had none create its secret.
      const added = await call<Camera>('PATCH', `${base}/dock`, { username: CAM_USER, password: CAM_PASSWORD });
      assert.equal(added.body.credentials, 'stored in secret camera-dock');
      const removed = await call<Camera>('PATCH', `${base}/dock`, { removeCredentials: true });
      assert.equal(removed.body.credentials, 'none');
      assert.ok(!(await secretNames()).includes('camera-dock'));
      // A CA on a camera moved to plain rtsp:// must be dropped explicitly.
      const toRtsp = await call<Err>('PATCH', `${base}/dock`, { url: 'rtsp://dock-cam.local/stream1' });
      assert.equal(toRtsp.body.error.code, 'CAMERA_TLS_CA_INVALID');

      const paused = await call<Camera>('POST', `${base}/lobby/pause`);
      assert.equal(paused.body.state, 'paused');
      assert.equal((await call<Camera>('GET', `${base}/lobby`)).body.state, 'paused');
      assert.equal((await call<Camera>('POST', `${base}/lobby/resume`)).body.state, 'active');
      const missing = await call<Err>('POST', `${base}/nope/pause`);
      assert.deepEqual([missing.status, missing.body.error.code], [404, 'CAMERA_NOT_FOUND']);
    });

    test('a device reads camera credentials only while bound to the camera (SECRET_NOT_BOUND_TO_DEVICE otherwise)', async () => {
      const register = async (name: string): Promise<Principal> => {
        const prov = await s.call<{ archive: string; passphrase: string }>('POST', '/api/v1/projects/default/devices', { name }, admin);
        assert.equal(prov.status, 201, JSON.stringify(prov.body));
        const a = await openArchive(prov.body.archive, prov.body.passphrase);
        const { csrPem } = await keyAndCsr(name);
        const reg = await deviceCall<{ certPem: string }>(
          s.port,
          a.caPem,
          { cert: a.provisioning.certPem, key: a.provisioning.keyPem },
          'POST',
          '/device/v1/register',
          { csrPem },
        );
        assert.equal(reg.status, 200, JSON.stringify(reg.body));
        // The principal the pipeline builds for a request with this certificate.
        const cert = new X509Certificate(reg.body.certPem);
        return s.plane.services.devices.principalForCert(
          cert.serialNumber.toLowerCase(),
          cert.fingerprint256.replaceAll(':', '').toLowerCase(),
        );
      };
      const edge1 = await register('edge-1');
      const edge2 = await register('edge-2');
      const as = (principal: Principal): KeyCaller => ({ principal, requestId: 'camera-binding-test', sourceIp: '10.0.0.9' });
      const refused = (c: string) => (e: unknown) => e instanceof SecretError && e.code === c;
      const secrets = s.plane.services.secrets;
      const cameras = s.plane.services.cameras;
      const lobby = { project: 'default', name: 'camera-lobby' };

      await assert.rejects(secrets.readForDevice(as(edge1), lobby), refused('SECRET_NOT_BOUND_TO_DEVICE'), 'nothing bound yet');
      await cameras.bind('default', 'lobby', 'edge-1');
      await cameras.bind('default', 'lobby', 'edge-1'); // twice is harmless
      const got = await secrets.readForDevice(as(edge1), lobby);
      assert.deepEqual(got.value, { username: CAM_USER, password: ROTATED_PASSWORD });
      await assert.rejects(secrets.readForDevice(as(edge2), lobby), refused('SECRET_NOT_BOUND_TO_DEVICE'), 'another device');
      await assert.rejects(
        secrets.readForDevice(as(edge1), { project: 'default', name: 'camera-gate' }),
        refused('SECRET_NOT_BOUND_TO_DEVICE'),
        'another camera',
      );
      await assert.rejects(
        secrets.readForDevice(as(edge1), { project: 'other', name: 'camera-lobby' }),
        refused('SECRET_NOT_BOUND_TO_DEVICE'),
        'another project',
      );
      await assert.rejects(
        cameras.bind('default', 'lobby', 'no-such-device'),
        (e: unknown) => (e as { code?: string }).code === 'DEVICE_NOT_FOUND',
      );
      assert.equal((await call<Camera>('GET', `${base}/lobby`)).body.boundDevices, 1);

      // A camera in use cannot be deleted; once unbound, the device's access ends and the camera can go.
      const inUse = await call<Err>('DELETE', `${base}/lobby`);
      assert.deepEqual([inUse.status, inUse.body.error.code], [409, 'CAMERA_IN_USE']);
      await cameras.unbind('default', 'lobby', 'edge-1');
      await assert.rejects(secrets.readForDevice(as(edge1), lobby), refused('SECRET_NOT_BOUND_TO_DEVICE'), 'unbound');
    });

    test('delete removes the camera and its secret', async () => {
      assert.ok((await secretNames()).includes('camera-lobby'));
      const r = await call('DELETE', `${base}/lobby`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(!(await cameraNames()).includes('lobby'));
      assert.ok(!(await secretNames()).includes('camera-lobby'));
      const gone = await call<Err>('GET', `${base}/lobby`);
      assert.deepEqual([gone.status, gone.body.error.code], [404, 'CAMERA_NOT_FOUND']);
      assert.equal((await call('DELETE', `${base}/gate`)).status, 200);
      assert.ok(!(await secretNames()).includes('camera-gate'));
    });

    test('the audit trail records every call with username and password redacted, and carries no credential', async () => {
      const creates = await audit('camera:Create');
      const allowed = creates.filter((e) => e.event.outcome === 'allowed');
      assert.ok(allowed.length >= 3);
      const withCreds = allowed.filter((e) => e.event.parameters['password'] !== undefined);
      assert.ok(withCreds.length >= 2);
      for (const e of withCreds) {
        assert.equal(e.event.parameters['password'], '[redacted]');
        assert.equal(e.event.parameters['username'], '[redacted]');
      }
      assert.ok(
        creates.some((e) => e.event.errorCode === 'CREDENTIALS_IN_URL'),
        'refused calls are in the trail',
      );
      const updates = await audit('camera:Update');
      assert.ok(updates.some((e) => e.event.parameters['password'] === '[redacted]'));
      assertClean('the audit trail', [...creates, ...updates, ...(await audit('camera:Delete')), ...(await audit('key:Use'))]);
    });

    test('the OpenAPI document describes the camera routes', async () => {
      const doc = await s.call<{ paths: Record<string, Record<string, { 'x-sightline-action'?: string }>> }>('GET', '/api/v1/openapi.json');
      assert.equal(doc.status, 200);
      const camera = doc.body.paths['/api/v1/projects/{project}/cameras/{name}'];
      assert.deepEqual(
        [
          doc.body.paths['/api/v1/projects/{project}/cameras']?.['post']?.['x-sightline-action'],
          camera?.['patch']?.['x-sightline-action'],
          camera?.['delete']?.['x-sightline-action'],
        ],
        ['camera:Create', 'camera:Update', 'camera:Delete'],
      );
    });

    test('no credential appears in any response, the server log, the data folder or the database', async () => {
      assertClean('a response', responses);
      const files = filesUnder(s.dataDir);
      const haystacks = [
        ...files.map((f) => ({ name: f, bytes: readFileSync(f) })),
        { name: 'server log', bytes: Buffer.from(logLines.join('')) },
      ];
      if (engine === 'postgres') haystacks.push({ name: 'postgres tables', bytes: Buffer.from(await allTableText(s)) });
      else
        assert.ok(
          files.some((f) => f.endsWith('sightline.db')),
          'the database file is in the data folder',
        );
      // The search looks where the data is: the stored camera names are found.
      assert.ok(haystacks.some((h) => h.name !== 'server log' && h.bytes.includes(Buffer.from('dock-cam.local'))));
      assert.ok(logLines.length > 0, 'the logger saw the requests');
      for (const h of haystacks) {
        for (const needle of NEEDLES) assert.equal(h.bytes.includes(Buffer.from(needle)), false, `${h.name} contains "${needle}"`);
      }
    });
  });
}
