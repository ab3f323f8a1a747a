import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { deviceApi, previewApi } from '@sightline/protocol';
import { engines, startTestServer, type TestServer } from './harness.js';
import { registerDevice, runningPrivacyBlur, type RegisteredDevice } from './packages-publish.js';
import { signIn } from './users.js';

interface Err {
  error: { code: string; message: string };
}
interface Ev {
  event: { action: string; outcome: string; errorCode: string | null; requestId: string; parameters: Record<string, unknown> };
}

const base = '/api/v1/projects/default';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A tiny but well-formed JPEG prefix (SOI, then bytes): what the relay checks, and compares byte for byte. */
const fakeJpeg = (n: number): Buffer =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(n, n % 251), Buffer.from([0xff, 0xd9])]);
const framed = (jpeg: Buffer): Buffer => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(jpeg.length);
  return Buffer.concat([h, jpeg]);
};

interface Viewer {
  res: Promise<IncomingMessage>;
  req: ClientRequest;
  /** Every byte of the body so far. */
  body: () => Buffer;
  ended: Promise<void>;
}

function openViewer(s: TestServer, path: string, token: string): Viewer {
  const chunks: Buffer[] = [];
  let endedResolve: () => void = () => undefined;
  const ended = new Promise<void>((r) => (endedResolve = r));
  let req!: ClientRequest;
  const res = new Promise<IncomingMessage>((resolve, reject) => {
    req = request(
      { host: '127.0.0.1', servername: 'localhost', port: s.port, path, ca: s.ca, headers: { authorization: `Bearer ${token}` } },
      (r) => {
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', endedResolve);
        r.on('close', endedResolve);
        resolve(r);
      },
    );
    req.on('error', (e) => {
      endedResolve();
      reject(e);
    });
    req.end();
  });
  res.catch(() => undefined);
  return { res, req, body: () => Buffer.concat(chunks), ended };
}

/** The agent's side of a push: a streamed mTLS POST; resolves with the control plane's answer. */
function openPush(
  s: TestServer,
  d: RegisteredDevice,
  id: string,
): { req: ClientRequest; answer: Promise<{ status: number; body: string }> } {
  let req!: ClientRequest;
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: s.port,
        method: 'POST',
        path: `/device/v1/previews/${id}/stream`,
        ca: d.caPem,
        cert: d.identity.cert,
        key: d.identity.key,
        headers: { 'content-type': previewApi.PREVIEW_FRAMES_CONTENT_TYPE },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
  });
  return { req, answer };
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

for (const engine of await engines()) {
  describe(`[${engine}] output preview relay`, () => {
    let s: TestServer;
    let admin: string;
    let edge: RegisteredDevice;
    let instanceId: string;
    let previewPath: string;

    const desired = async (): Promise<deviceApi.DesiredState> => {
      const r = await edge.call<deviceApi.DesiredState>('GET', '/device/v1/desired-state');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return deviceApi.desiredState.parse(r.body);
    };
    const auditOf = async (action: string): Promise<Ev[]> =>
      (await s.call<{ events: Ev[] }>('GET', `/api/v1/audit/events?action=${encodeURIComponent(action)}&limit=100`, undefined, admin)).body
        .events;

    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
      ({ edge, instanceId } = await runningPrivacyBlur(s, admin, 'edge-p'));
      const app = await s.call<{ app: { outputs: string[]; stage: string } }>('GET', `${base}/apps/${instanceId}`, undefined, admin);
      assert.deepEqual([app.body.app.stage, app.body.app.outputs], ['running', ['out']]);
      previewPath = `${base}/devices/edge-p/apps/${instanceId}/outputs/out/preview`;
      s.plane.services.previews.limits.connectTimeoutMs = 3000;
    });
    after(() => s.close());

    test('refused: a ReadOnly user lacks device:ViewOutput (403 ACCESS_DENIED), and the project setting is off by default (403 OUTPUT_PREVIEW_DISABLED)', async () => {
      const reader = await signIn(s, admin, `reader-${engine}`, [{ role: 'ReadOnly', project: 'default' }]);
      const denied = await s.call<Err>('GET', previewPath, undefined, reader);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'ACCESS_DENIED');

      const project = await s.call<{ settings: { outputPreview: boolean } }>('GET', '/api/v1/projects/default', undefined, admin);
      assert.equal(project.body.settings.outputPreview, false);
      const off = await s.call<Err>('GET', previewPath, undefined, admin);
      assert.equal(off.status, 403);
      assert.equal(off.body.error.code, 'OUTPUT_PREVIEW_DISABLED');
      assert.match(off.body.error.message, /--output-preview on/);
      // Nothing reached the device.
      assert.equal((await desired()).previews, undefined);
      // Only an Admin changes the setting (an Operator has device:ViewOutput but not project:UpdateSettings).
      const operator = await signIn(s, admin, `operator-${engine}`, [{ role: 'Operator', project: 'default' }]);
      const notAdmin = await s.call<Err>('PUT', '/api/v1/projects/default/settings', { outputPreview: true }, operator);
      assert.equal(notAdmin.status, 403);
      assert.equal(notAdmin.body.error.code, 'ACCESS_DENIED');
      const bad = await s.call<Err>('PUT', '/api/v1/projects/default/settings', { outputPreview: 'yes' }, admin);
      assert.equal(bad.status, 400);
      const denials = await auditOf('device:ViewOutput');
      assert.ok(denials.some((e) => e.event.outcome === 'denied'));
      assert.ok(denials.some((e) => e.event.errorCode === 'OUTPUT_PREVIEW_DISABLED'));
    });

    test('on: a pushed frame reaches the viewer byte for byte; the viewer leaving ends the push and the trail has start and stop', async () => {
      const on = await s.call<{ settings: { outputPreview: boolean } }>(
        'PUT',
        '/api/v1/projects/default/settings',
        { outputPreview: true },
        admin,
      );
      assert.equal(on.status, 200, JSON.stringify(on.body));
      assert.equal(on.body.settings.outputPreview, true);
      assert.ok(
        (await auditOf('project:UpdateSettings')).some(
          (e) => e.event.outcome === 'allowed' && e.event.parameters['outputPreview'] === true,
        ),
      );
      const before = await desired();

      const viewer = openViewer(s, `${previewPath}?fps=10`, admin);
      // The desired state names the preview (the long-poll wakes for it).
      const wanted = await until('the preview in the desired state', async () => (await desired()).previews?.[0]);
      assert.notEqual((await desired()).etag, before.etag);
      assert.deepEqual([wanted.instanceId, wanted.output, wanted.maxFps], [instanceId, 'out', 10]);
      // Another device cannot serve it.
      const other = await registerDevice(s, admin, 'edge-q');
      const stranger = openPush(s, other, wanted.id);
      stranger.req.end(framed(fakeJpeg(10)));
      assert.equal((await stranger.answer).status, 404);

      const pusher = openPush(s, edge, wanted.id);
      const jpeg = fakeJpeg(5000);
      pusher.req.write(framed(jpeg));
      const res = await viewer.res;
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], `multipart/x-mixed-replace; boundary=${previewApi.PREVIEW_BOUNDARY}`);
      assert.equal(res.headers['cache-control'], 'no-store');
      const part = await until('a frame at the viewer', () => {
        const body = viewer.body();
        const head = `--${previewApi.PREVIEW_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
        return body.length >= head.length + jpeg.length ? { body, head } : undefined;
      });
      assert.equal(part.body.subarray(0, part.head.length).toString('latin1'), part.head);
      assert.ok(part.body.subarray(part.head.length, part.head.length + jpeg.length).equals(jpeg), 'the frame arrives byte for byte');
      // A keep-alive (length 0) relays nothing.
      pusher.req.write(Buffer.alloc(4));

      // The viewer leaves: the push is answered, the preview leaves the desired state, the trail has both ends.
      viewer.req.destroy();
      const answer = await pusher.answer;
      assert.equal(answer.status, 200, answer.body);
      const result = previewApi.pushResult.parse(JSON.parse(answer.body));
      assert.deepEqual([result.reason, result.frames], ['viewer-closed', 1]);
      pusher.req.destroy();
      assert.equal((await desired()).previews, undefined);
      assert.equal(s.plane.services.previews.active, 0);
      const start = (await auditOf('device:ViewOutput')).find((e) => e.event.outcome === 'allowed');
      assert.ok(start !== undefined, 'the start is audited');
      const stop = await until('the stop event', async () => (await auditOf('device:ViewOutputStop')).at(-1));
      assert.equal(stop.event.requestId, start.event.requestId, 'start and stop share the request id');
      assert.equal(stop.event.parameters['frames'], 1);
      assert.equal(stop.event.parameters['reason'], 'viewer-closed');
      assert.equal(typeof stop.event.parameters['durationMs'], 'number');
      assert.ok((await auditOf('device:PushPreview')).some((e) => e.event.outcome === 'allowed'));
    });

    test('caps: an oversize frame ends the preview with PREVIEW_FRAME_TOO_LARGE; a non-JPEG with PREVIEW_STREAM_INVALID', async () => {
      for (const [bad, code] of [
        [
          (() => {
            const h = Buffer.alloc(4);
            h.writeUInt32BE(previewApi.PREVIEW_LIMITS.maxFrameBytes + 1);
            return h;
          })(),
          'PREVIEW_FRAME_TOO_LARGE',
        ],
        [framed(Buffer.from('<script>alert(1)</script>')), 'PREVIEW_STREAM_INVALID'],
      ] as const) {
        const viewer = openViewer(s, previewPath, admin);
        const wanted = await until('the preview', async () => (await desired()).previews?.[0]);
        const pusher = openPush(s, edge, wanted.id);
        pusher.req.write(bad);
        const answer = await pusher.answer;
        assert.equal(JSON.parse(answer.body).error.code, code);
        pusher.req.destroy();
        await viewer.ended;
        assert.ok(!viewer.body().includes('<script>'), 'nothing of it reached the viewer');
        assert.equal(s.plane.services.previews.active, 0);
      }
    });

    test('no agent serves it: the viewer gets PREVIEW_TIMEOUT with its sentence, and the preview is gone', async () => {
      s.plane.services.previews.limits.connectTimeoutMs = 800;
      const r = await s.call<Err>('GET', previewPath, undefined, admin);
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, 'PREVIEW_TIMEOUT');
      assert.match(r.body.error.message, /did not start the preview within/);
      assert.equal((await desired()).previews, undefined);
      assert.ok((await auditOf('device:ViewOutput')).some((e) => e.event.errorCode === 'PREVIEW_TIMEOUT'));
      // An unknown output is refused before anything is asked of the device.
      const none = await s.call<Err>('GET', `${base}/devices/edge-p/apps/${instanceId}/outputs/nope/preview`, undefined, admin);
      assert.equal(none.body.error.code, 'OUTPUT_NOT_FOUND');
      const openapi = await s.call<{
        paths: Record<string, { get?: { responses: Record<string, { content?: Record<string, unknown> }> } }>;
      }>('GET', '/api/v1/openapi.json');
      const op = openapi.body.paths['/api/v1/projects/{project}/devices/{name}/apps/{instance}/outputs/{output}/preview'];
      assert.ok(op?.get?.responses['200']?.content?.[`multipart/x-mixed-replace; boundary=${previewApi.PREVIEW_BOUNDARY}`] !== undefined);
      s.plane.services.previews.limits.connectTimeoutMs = 3000;
    });

    test('caps: at most maxPerDevice previews of a device at once (429 PREVIEW_LIMIT_REACHED)', async () => {
      const viewers = [openViewer(s, previewPath, admin), openViewer(s, previewPath, admin)];
      await until('two previews', async () => ((await desired()).previews?.length === 2 ? true : undefined));
      const third = await s.call<Err>('GET', previewPath, undefined, admin);
      assert.equal(third.status, 429);
      assert.equal(third.body.error.code, 'PREVIEW_LIMIT_REACHED');
      for (const v of viewers) v.req.destroy();
      await until('none left', () => (s.plane.services.previews.active === 0 ? true : undefined));
    });
  });
}
