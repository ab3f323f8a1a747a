import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { previewApi } from '@sightline/protocol';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { runningPrivacyBlur } from '../../server/test/packages-publish.js';
import { DeviceClient } from '../src/client/device-client.js';
import { HttpsFetcher } from '../src/client/fetcher.js';
import { OutputHub } from '../src/output/hub.js';
import { JpegEncoder, jpegLength } from '../src/output/jpeg.js';
import { framePrefix, PreviewRelay } from '../src/output/preview.js';
import { until as waitUntil } from './helpers/wait.js';

const base = '/api/v1/projects/default';

/** Short polls: these waits are for frames a few tens of milliseconds apart. */
const until = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> => waitUntil(what, fn, ms, 50);

/** SHA-256 of the control plane's certificate, as the provisioning archive pins it. */
function serverPin(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = sock.getPeerX509Certificate()?.raw;
      sock.destroy();
      if (raw === undefined) reject(new Error('no certificate'));
      else resolve(createHash('sha256').update(raw).digest('hex'));
    });
    sock.on('error', reject);
  });
}

/** The viewer: the console's GET, collecting every byte; `parts` parses the multipart JPEGs so far. */
function openViewer(s: TestServer, path: string, token: string) {
  const chunks: Buffer[] = [];
  let req!: ClientRequest;
  let ended = false;
  const res = new Promise<IncomingMessage>((resolve, reject) => {
    req = request(
      { host: '127.0.0.1', servername: 'localhost', port: s.port, path, ca: s.ca, headers: { authorization: `Bearer ${token}` } },
      (r) => {
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('close', () => (ended = true));
        resolve(r);
      },
    );
    req.on('error', (e) => {
      ended = true;
      reject(e);
    });
    req.end();
  });
  res.catch(() => undefined);
  const parts = (): Buffer[] => {
    const body = Buffer.concat(chunks);
    const out: Buffer[] = [];
    let at = 0;
    const re = /Content-Length: (\d+)\r\n\r\n/g;
    for (;;) {
      re.lastIndex = at;
      const m = re.exec(body.toString('latin1'));
      if (m === null) break;
      const start = m.index + m[0].length;
      const len = Number(m[1]);
      if (body.length < start + len) break;
      out.push(body.subarray(start, start + len));
      at = start + len;
    }
    return out;
  };
  return { res, req: () => req, parts, ended: () => ended };
}

test(
  'the preview relay pushes only what the desired state asks, as whole JPEGs at most maxFps, through a real control plane to a viewer; it stops when the viewer leaves or the preview is dropped',
  { timeout: 120_000 },
  async () => {
    const s = await startTestServer();
    const hub = new OutputHub();
    let relay: PreviewRelay | undefined;
    let client: DeviceClient | undefined;
    let ticker: NodeJS.Timeout | undefined;
    try {
      const admin = await s.adminToken();
      const { edge, instanceId } = await runningPrivacyBlur(s, admin, 'edge-a');
      assert.equal((await s.call('PUT', '/api/v1/projects/default/settings', { outputPreview: true }, admin)).status, 200);

      // The agent's side: its mTLS client (pinned), the hub its apps publish to, and the relay.
      client = new DeviceClient(
        new HttpsFetcher({
          url: `https://127.0.0.1:${s.port}`,
          serverCertSha256: await serverPin(s.port),
          caPem: edge.caPem,
          certPem: edge.identity.cert,
          keyPem: edge.identity.key,
        }),
      );
      const c = client;
      hub.register(instanceId, ['out']);
      const logs: string[] = [];
      const stops: Record<string, unknown>[] = [];
      relay = new PreviewRelay({
        hub,
        encoder: () => new JpegEncoder('ffmpeg'),
        openPush: (id, signal) => c.pushPreview(id, signal),
        logger: {
          info: (m, f) => {
            logs.push(m);
            if (m === 'output preview stopped' && f !== undefined) stops.push(f);
          },
          warn: (m) => logs.push(m),
        },
        keepAliveMs: 200,
        answerGraceMs: 1000,
      });
      const r = relay;
      // The app: 50 frames a second, far above the preview's cap.
      let n = 0;
      ticker = setInterval(() => {
        n++;
        hub.publish(instanceId, 'out', {
          width: 64,
          height: 48,
          data: new Uint8Array(64 * 48 * 3).fill(n % 255),
          timestamp: n,
          camera: 'door',
        });
      }, 20);
      const previewPath = `${base}/devices/edge-a/apps/${instanceId}/outputs/out/preview?fps=4`;

      // Nothing asked: nothing pushed (an unknown output is skipped too).
      r.apply([]);
      r.apply([{ id: '00000000-0000-4000-8000-000000000000', instanceId, output: 'other', maxFps: 5, maxFrameBytes: 65536 }]);
      assert.deepEqual(r.active, []);

      // 1. The viewer asks; the desired state names the preview; the relay pushes; the viewer leaves.
      const viewer = openViewer(s, previewPath, admin);
      const wanted = await until('the preview in the desired state', async () => {
        const st = await c.desiredState(undefined, 0);
        return st.changed && st.state.previews !== undefined ? st.state.previews : undefined;
      });
      assert.equal(wanted[0]?.maxFps, 4);
      const applied = Date.now();
      r.apply(wanted);
      assert.deepEqual(r.active, [wanted[0]?.id]);
      assert.equal((await viewer.res).statusCode, 200);
      const first = await until('frames at the viewer', () => (viewer.parts().length >= 1 ? viewer.parts() : undefined));
      const t0 = Date.now();
      for (const jpeg of first) assert.equal(jpegLength(jpeg), jpeg.length, 'each part is one whole JPEG');
      await new Promise((res) => setTimeout(res, 1500));
      const got = viewer.parts().length - first.length;
      const elapsed = (Date.now() - t0) / 1000;
      assert.ok(got >= 1, 'frames keep coming');
      assert.ok(
        got <= Math.ceil(elapsed * 4) + 1,
        `at most 4 fps: ${got} frames in ${elapsed} s (the app made ${Math.round(elapsed * 50)})`,
      );
      viewer.req().destroy();
      await until('the push to end when the viewer left', () => (r.active.length === 0 ? true : undefined));
      // The agent's own cap: it sent at most maxFps (the control plane would drop the excess, but it is never sent).
      const pushedFor = (Date.now() - applied) / 1000;
      const sent = Number(stops[0]?.['sent']);
      assert.ok(sent >= 1 && sent <= Math.ceil(pushedFor * 4) + 1, `the agent sent ${sent} frames in ${pushedFor} s at 4 fps`);

      // 2. Dropped from the desired state: the relay ends its push, and the viewer's stream ends with it.
      const second = openViewer(s, previewPath, admin);
      const again = await until('the second preview', async () => {
        const st = await c.desiredState(undefined, 0);
        return st.changed && st.state.previews !== undefined ? st.state.previews : undefined;
      });
      r.apply(again);
      await until('a frame', () => (second.parts().length >= 1 ? true : undefined));
      r.apply([]);
      await until('the viewer stream to end', () => (second.ended() ? true : undefined));
      await until('the relay to let go', () => (r.active.length === 0 ? true : undefined));
      assert.equal(s.plane.services.previews.active, 0);

      // 3. The output ends (the app stopped): the push ends and the viewer's stream too.
      const third = openViewer(s, previewPath, admin);
      const last = await until('the third preview', async () => {
        const st = await c.desiredState(undefined, 0);
        return st.changed && st.state.previews !== undefined ? st.state.previews : undefined;
      });
      r.apply(last);
      await until('a frame', () => (third.parts().length >= 1 ? true : undefined));
      hub.unregister(instanceId, ['out']);
      await until('the viewer stream to end', () => (third.ended() ? true : undefined));
      await until('the relay to let go', () => (r.active.length === 0 ? true : undefined));
      assert.deepEqual([...framePrefix(0x01020304)], [1, 2, 3, 4]);
      assert.ok(previewApi.PREVIEW_LIMITS.maxFps >= 4);
    } finally {
      if (ticker !== undefined) clearInterval(ticker);
      await relay?.close();
      client?.close();
      await s.close();
    }
  },
);
