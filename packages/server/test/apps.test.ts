import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type appsApi, deviceApi } from '@sightline/protocol';
import { engines, startTestServer, type TestServer } from './harness.js';
import { buildPackage, publisherKey, push, registerDevice, type Built, type RegisteredDevice } from './packages-publish.js';
import { privacyBlurManifest } from '../../protocol/src/api/app-manifest.fixture.js';

interface Err {
  error: { code: string; message: string; details?: { path?: string } };
}
interface App {
  instanceId: string;
  stage: string;
  revision: number;
  updatedAt: string;
  code?: string;
  message?: string;
  bytesDone?: number;
  bytesTotal?: number;
  history: { stage: string; message?: string }[];
  cameras: { camera: string; paused: boolean; state?: string }[];
  parameters: Record<string, Record<string, unknown>>;
}
type AppBody = { app: App } & Err;

const base = '/api/v1/projects/default';

const manifest = (): ReturnType<typeof privacyBlurManifest> => privacyBlurManifest(0.75);

const heartbeat = {
  agentVersion: '0.1.0',
  uptimeSeconds: 5,
  integrity: { state: 'verified' },
  rootKeyProtection: 'key-file',
  disk: { totalBytes: 100, freeBytes: 50 },
  memory: { totalBytes: 100, freeBytes: 60 },
  cpu: { load1: 0.1, cores: 2 },
  isolation: {
    namespaces: { present: true, detail: 'bubblewrap 0.8' },
    permissionModel: { present: true, detail: 'node 20 --experimental-permission' },
    cgroups: { version: 'v1', detail: 'memory, cpu' },
    diskQuota: { present: true, detail: 'storage folder accounting' },
  },
};

for (const engine of await engines()) {
  describe(`[${engine}] apps and deployments`, () => {
    let s: TestServer;
    let admin: string;
    let edge1: RegisteredDevice;
    let edge2: RegisteredDevice;
    let code: Built;
    const deploy = (body: Record<string, unknown>) => s.call<AppBody>('POST', `${base}/apps`, body, admin);
    const describeApp = async (id: string, query = ''): Promise<App> => {
      const r = await s.call<AppBody>('GET', `${base}/apps/${id}${query}`, undefined, admin);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.app;
    };
    const desired = async (d: RegisteredDevice) => {
      const r = await d.call<deviceApi.DesiredState>('GET', '/device/v1/desired-state');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return deviceApi.desiredState.parse(r.body);
    };
    const report = (d: RegisteredDevice, id: string, body: appsApi.AppStatusReport) => d.call('POST', `/device/v1/apps/${id}/status`, body);

    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
      const key = publisherKey();
      code = await buildPackage(s, admin, key.key, 'code', 'privacy-blur', '0.1.0', { 'app.js': '"blur bundle"' });
      assert.equal((await push(s, admin, code)).status, 201);
      const model = await buildPackage(s, admin, key.key, 'model', 'blazeface', '1.0.0', { 'model.onnx': '"onnx"' });
      assert.equal((await push(s, admin, model)).status, 201);
      const cam = await s.call('POST', `${base}/cameras`, { name: 'front-door', url: 'rtsps://cam.example/door', username: 'viewer', password: 'door-pass-1234' }, admin);
      assert.equal(cam.status, 201, JSON.stringify(cam.body));
      assert.equal((await s.call('POST', `${base}/cameras`, { name: 'lobby', url: 'rtsps://cam.example/lobby', username: 'v', password: 'lobby-pass-1234' }, admin)).status, 201);
      edge1 = await registerDevice(s, admin, 'edge-1');
      edge2 = await registerDevice(s, admin, 'edge-2');
    });
    after(() => s.close());

    test('manifest faults are refused with MANIFEST_INVALID and the path; nothing is deployed', async () => {
      const cases: [string, (m: ReturnType<typeof manifest>) => void, Record<string, unknown>, string][] = [
        ['missing package', (m) => (m.nodes[1] = { name: 'blur', type: 'code', package: 'no-such', version: '0.1.0' }), {}, 'nodes[1].package'],
        ['camera into a model', (m) => (m.edges[0] = { from: 'camera', to: 'face' }), {}, 'edges[0].to'],
        ['unknown port', (m) => (m.edges[0] = { from: 'camera', to: 'blur.video_nope' }), {}, 'edges[0].to'],
        [
          'parameter of the wrong type',
          (m) => (m.nodes[4] = { name: 'threshold', type: 'parameter', parameter: { type: 'string', default: 'high', overridable: true } }),
          {},
          'edges[2].to',
        ],
        [
          'override of a non-overridable parameter',
          (m) => (m.nodes[4] = { name: 'threshold', type: 'parameter', parameter: { type: 'number', default: 0.5 } }),
          { parameters: { threshold: 0.9 } },
          'overrides.parameters.threshold',
        ],
        ['unknown camera', () => undefined, { cameras: { camera: 'garage' } }, 'overrides.cameras.camera'],
      ];
      for (const [what, change, overrides, path] of cases) {
        const m = manifest();
        change(m);
        const r = await deploy({ manifest: m, device: 'edge-1', overrides: { cameras: { camera: 'front-door' }, ...overrides } });
        assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, 'MANIFEST_INVALID', what);
        assert.equal(r.body.error.details?.path, path, what);
      }
      const list = await s.call<{ apps: unknown[] }>('GET', `${base}/apps`, undefined, admin);
      assert.deepEqual(list.body.apps, []);
      const schema = await s.call<{ properties: Record<string, unknown> }>('GET', '/api/v1/schemas/app-manifest.json');
      assert.ok('nodes' in schema.body.properties);
      const openapi = await s.call<{ paths: Record<string, unknown> }>('GET', '/api/v1/openapi.json');
      assert.ok('/api/v1/projects/{project}/apps/{instance}' in openapi.body.paths);
      assert.ok('/api/v1/projects/{project}/packages' in openapi.body.paths);
    });

    test('deploy: the device sees it, fetches its blobs and camera credentials (only its own), reports stages the API shows', async () => {
      const before = await desired(edge1);
      const r = await deploy({ manifest: manifest(), device: 'edge-1', overrides: { cameras: { camera: 'front-door' }, parameters: { threshold: 0.5 } } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const app = r.body.app;
      assert.equal(app.stage, 'queued');
      assert.deepEqual(app.parameters, { blur: { threshold: 0.5, tile: false } });

      const state = await desired(edge1);
      assert.notEqual(state.etag, before.etag, 'a deployment changes the ETag');
      const d = state.apps[0] as appsApi.DesiredApp;
      assert.equal(d.instanceId, app.instanceId);
      assert.deepEqual(d.code.map((c) => [c.node, c.package.name, c.package.manifestB64 === code.manifestB64]), [['blur', 'privacy-blur', true]]);
      assert.deepEqual(d.cameras.map((c) => [c.camera, c.url, c.hasCredentials, c.paused]), [['front-door', 'rtsps://cam.example/door', true, false]]);
      assert.ok(!JSON.stringify(state).includes('door-pass-1234'), 'no credentials in the desired state');
      assert.deepEqual((await desired(edge2)).apps, []);

      // Blobs: this device's packages only; the same answer for another device's and for an unknown blob.
      const sha = code.files[0]?.sha256 ?? '';
      const blob = await edge1.call<string>('GET', `/device/v1/packages/blobs/${sha}`);
      assert.equal(blob.status, 200);
      assert.equal(blob.body, 'blur bundle');
      assert.equal(blob.headers['content-length'], String(code.files[0]?.bytes));
      const theirs = await edge2.call<Err>('GET', `/device/v1/packages/blobs/${sha}`);
      assert.equal(theirs.status, 404);
      assert.equal(theirs.body.error.code, 'BLOB_NOT_FOUND');
      assert.equal((await edge1.call('GET', `/device/v1/packages/blobs/${'0'.repeat(64)}`)).status, 404);

      // Camera credentials: bound cameras only.
      const cameraId = d.cameras[0]?.cameraId ?? '';
      const creds = await edge1.call<{ username: string; password: string }>('GET', `/device/v1/cameras/${cameraId}/credentials`);
      assert.equal(creds.status, 200, JSON.stringify(creds.body));
      assert.deepEqual(creds.body, { username: 'viewer', password: 'door-pass-1234' });
      assert.equal((await edge2.call<Err>('GET', `/device/v1/cameras/${cameraId}/credentials`)).body.error.code, 'SECRET_NOT_BOUND_TO_DEVICE');
      const lobby = await s.call<{ id: string }>('GET', `${base}/cameras/lobby`, undefined, admin);
      assert.equal((await edge1.call('GET', `/device/v1/cameras/${lobby.body.id}/credentials`)).status, 403);
      const audit = await s.call<{ events: { action: string; principal: { name: string } }[] }>('GET', `${base}/audit/events?limit=50`, undefined, admin);
      if (audit.status === 200) assert.ok(!JSON.stringify(audit.body).includes('door-pass-1234'), 'the audit trail never holds the password');

      // Stages, with a long-poll that answers when the device reports.
      const waiting = describeApp(app.instanceId, `?wait=10&since=${encodeURIComponent(app.updatedAt)}`);
      assert.equal((await report(edge1, app.instanceId, { revision: 1, stage: 'downloading', bytesDone: 10, bytesTotal: 40 })).status, 204);
      const seen = await waiting;
      assert.deepEqual([seen.stage, seen.bytesDone, seen.bytesTotal], ['downloading', 10, 40]);
      assert.equal((await report(edge1, app.instanceId, { revision: 1, stage: 'verifying' })).status, 204);
      assert.equal((await report(edge1, app.instanceId, { revision: 1, stage: 'starting' })).status, 204);
      const running = { revision: 1, stage: 'running' as const, cameras: [{ camera: 'front-door', state: 'connected' as const, fps: 15 }] };
      assert.equal((await report(edge1, app.instanceId, running)).status, 204);
      const now = await describeApp(app.instanceId);
      assert.equal(now.stage, 'running');
      assert.deepEqual(now.history.map((h) => h.stage), ['queued', 'downloading', 'verifying', 'starting', 'running']);
      assert.equal(now.cameras[0]?.state, 'connected');

      // App logs: the instance's stream lands in its own group; another device's claim to it lands in that device's group.
      const line = (message: string) => ({ stream: `app-${app.instanceId}`, events: [{ time: new Date().toISOString(), level: 'info', message }] });
      assert.equal((await edge1.call('POST', '/device/v1/logs', line('blur started'))).status, 200);
      assert.equal((await edge2.call('POST', '/device/v1/logs', line('not mine'))).status, 200);
      const appGroup = `${base}/log-groups/app-${app.instanceId}/events`;
      const appLines = await s.call<{ events: { message: string }[] }>('GET', appGroup, undefined, admin);
      assert.equal(appLines.status, 200, JSON.stringify(appLines.body));
      assert.deepEqual(appLines.body.events.map((e) => e.message), ['blur started']);
      const edge2Lines = await s.call<{ events: { message: string }[] }>('GET', `${base}/log-groups/device-edge-2/events`, undefined, admin);
      assert.deepEqual(edge2Lines.body.events.map((e) => e.message), ['not mine']);

      // Another device cannot report on it.
      assert.equal((await report(edge2, app.instanceId, { revision: 1, stage: 'failed' })).status, 404);
      // Pause makes a new revision; a report for the old revision is ignored.
      const paused = await s.call<AppBody>('POST', `${base}/apps/${app.instanceId}/pause`, { camera: 'front-door' }, admin);
      assert.deepEqual([paused.body.app.revision, paused.body.app.cameras[0]?.paused], [2, true]);
      assert.equal((await desired(edge1)).apps[0]?.cameras[0]?.paused, true);
      assert.equal((await report(edge1, app.instanceId, { revision: 1, stage: 'failed', code: 'X_FAILED' })).status, 204);
      assert.equal((await describeApp(app.instanceId)).stage, 'running');
      const resumed = await s.call<AppBody>('POST', `${base}/apps/${app.instanceId}/resume`, { camera: 'front-door' }, admin);
      assert.deepEqual([resumed.body.app.revision, resumed.body.app.cameras[0]?.paused], [3, false]);

      // The heartbeat's isolation report shows on device describe.
      assert.equal((await edge1.call('POST', '/device/v1/heartbeat', heartbeat)).status, 200);
      const dev = await s.call<{ isolation: { cgroups: { version: string } } | null }>('GET', `${base}/devices/edge-1`, undefined, admin);
      assert.equal(dev.body.isolation?.cgroups.version, 'v1');
    });

    test('a stage that runs out of time fails with STAGE_TIMEOUT naming the stage, and leaves the desired state', async () => {
      const r = await deploy({ manifest: manifest(), device: 'edge-2', overrides: { cameras: { camera: 'lobby' } } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const id = r.body.app.instanceId;
      await report(edge2, id, { revision: 1, stage: 'downloading', bytesDone: 0, bytesTotal: 40 });
      s.clock.advance(599_000);
      assert.equal(await s.plane.services.apps.sweepTimeouts(), 0, 'not yet');
      s.clock.advance(2_000);
      assert.equal(await s.plane.services.apps.sweepTimeouts(), 1);
      const app = await describeApp(id);
      assert.deepEqual([app.stage, app.code], ['failed', 'STAGE_TIMEOUT']);
      assert.match(app.message ?? '', /downloading/);
      assert.deepEqual((await desired(edge2)).apps, []);
      // Its camera is released with it.
      const lobby = await s.call<{ id: string }>('GET', `${base}/cameras/lobby`, undefined, admin);
      assert.equal((await edge2.call('GET', `/device/v1/cameras/${lobby.body.id}/credentials`)).status, 403);
    });

    test('replace: a failing new instance ends rolled-back and the old one keeps running; a running one stops the old', async () => {
      const list = await s.call<{ apps: App[] }>('GET', `${base}/apps?device=edge-1`, undefined, admin);
      const old = list.body.apps.find((a) => a.stage === 'running');
      assert.ok(old !== undefined);
      const bad = await deploy({ manifest: manifest(), device: 'edge-1', overrides: { cameras: { camera: 'front-door' } }, replace: old.instanceId });
      assert.equal(bad.status, 201, JSON.stringify(bad.body));
      assert.deepEqual((await desired(edge1)).apps.map((a) => a.instanceId), [old.instanceId, bad.body.app.instanceId], 'both run until the new one runs');
      await report(edge1, bad.body.app.instanceId, { revision: 1, stage: 'starting' });
      await report(edge1, bad.body.app.instanceId, { revision: 1, stage: 'failed', code: 'APP_CRASHED', message: 'exit code 1' });
      const rolled = await describeApp(bad.body.app.instanceId);
      assert.deepEqual([rolled.stage, rolled.code], ['rolled-back', 'APP_CRASHED']);
      assert.equal((await describeApp(old.instanceId)).stage, 'running');
      assert.deepEqual((await desired(edge1)).apps.map((a) => a.instanceId), [old.instanceId]);

      const good = await deploy({ manifest: manifest(), device: 'edge-1', overrides: { cameras: { camera: 'front-door' } }, replace: old.instanceId });
      await report(edge1, good.body.app.instanceId, { revision: 1, stage: 'running' });
      const replaced = await describeApp(old.instanceId);
      assert.equal(replaced.stage, 'stopped');
      assert.match(replaced.history.at(-1)?.message ?? '', /replaced by/);
      // The camera stays bound: the new instance uses it.
      const cameraId = (await desired(edge1)).apps[0]?.cameras[0]?.cameraId ?? '';
      assert.equal((await edge1.call('GET', `/device/v1/cameras/${cameraId}/credentials`)).status, 200);

      // A project that requires a signer refuses to deploy packages signed by anyone else.
      const other = publisherKey();
      assert.equal((await s.call('POST', `${base}/signing-keys`, { name: 'other', publicKey: other.publicKey }, admin)).status, 201);
      assert.equal((await s.call('PUT', `${base}/package-policy`, { requireSignedBy: ['other'] }, admin)).status, 200);
      const untrusted = await deploy({ manifest: manifest(), device: 'edge-1', overrides: { cameras: { camera: 'front-door' } } });
      assert.deepEqual([untrusted.body.error.code, untrusted.body.error.details?.path], ['PACKAGE_SIGNER_UNTRUSTED', 'nodes[1].package']);
      assert.deepEqual((await desired(edge1)).apps[0]?.trustedKeyIds, [other.keyId]);
      assert.equal((await s.call('PUT', `${base}/package-policy`, { requireSignedBy: [] }, admin)).status, 200);

      // Remove: stopped, out of the desired state, camera unbound.
      const rm = await s.call<AppBody>('DELETE', `${base}/apps/${good.body.app.instanceId}`, undefined, admin);
      assert.equal(rm.body.app.stage, 'stopped');
      assert.deepEqual((await desired(edge1)).apps, []);
      assert.equal((await edge1.call('GET', `/device/v1/cameras/${cameraId}/credentials`)).status, 403);
      assert.equal((await s.call<Err>('GET', `${base}/apps/00000000-0000-0000-0000-000000000000`, undefined, admin)).body.error.code, 'APP_NOT_FOUND');
    });

    test('a device certificate cannot call the user API, and a user cannot call the device API', async () => {
      const asDevice = await edge1.call<Err>('GET', `${base}/apps`);
      assert.equal(asDevice.status, 403);
      assert.equal(asDevice.body.error.code, 'WRONG_API');
      for (const [method, path] of [
        ['GET', `/device/v1/packages/blobs/${'0'.repeat(64)}`],
        ['GET', '/device/v1/cameras/x/credentials'],
        ['POST', '/device/v1/apps/x/status'],
      ] as const) {
        const r = await s.call<Err>(method, path, method === 'POST' ? { revision: 1, stage: 'running' } : undefined, admin);
        assert.equal(r.status, 401, `${method} ${path}`);
        assert.equal(r.body.error.code, 'CERT_REQUIRED');
      }
    });
  });
}
