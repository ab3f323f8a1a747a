import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appDescriptorSchema } from '@sightline/sdk';
import { resolveWiring } from '../src/apps/graph.js';
import type { DesiredApp } from '../src/apps/planner.js';
import { loadOrCreateLocalAccess, readLocalAccess } from '../src/output/access.js';
import { JpegEncoder, jpegLength } from '../src/output/jpeg.js';
import { EncryptedStore } from '../src/storage/store.js';
import { grepDir } from './helpers/grep.js';

test('the JPEG encoder turns RGB frames into whole JPEGs, one per frame, and drops a frame offered while busy', async () => {
  const enc = new JpegEncoder('ffmpeg');
  try {
    const frame = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(90), timestamp: 0, camera: 'c' };
    const [a, busy] = await Promise.all([enc.encode(frame), enc.encode(frame)]);
    assert.equal(busy, undefined, 'dropped, not queued');
    assert.ok(a !== undefined);
    assert.equal(jpegLength(a), a.length);
    assert.deepEqual([a[0], a[1], a.at(-2), a.at(-1)], [0xff, 0xd8, 0xff, 0xd9]);
    assert.equal(enc.dropped, 1);
    const b = await enc.encode({ ...frame, width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) });
    assert.ok(b !== undefined && jpegLength(b) === b.length, 'a new size restarts the encoder');
    // Incomplete and foreign bytes.
    assert.equal(jpegLength(a.subarray(0, a.length - 1)), -1);
    assert.equal(jpegLength(Buffer.concat([a, Buffer.from([0xff, 0xd8])])), a.length);
    assert.throws(() => jpegLength(Buffer.from('not a jpeg')));
  } finally {
    enc.close();
  }
});

test('the local access record: made once, sealed in the store, the same token on every start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sl-local-access-'));
  try {
    const store = new EncryptedStore(dir, randomBytes(32));
    assert.equal(await readLocalAccess(store), undefined);
    const a = await loadOrCreateLocalAccess(store);
    const b = await loadOrCreateLocalAccess(store);
    assert.equal(a.token, b.token);
    assert.equal(a.certSha256, b.certSha256);
    assert.match(a.token, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(grepDir(dir, [a.token, a.keyPem.split('\n')[1] ?? 'x']), [], 'neither the token nor the key in the clear');
    // Near expiry the certificate is renewed, the token kept.
    const later = await loadOrCreateLocalAccess(store, Date.now() + 380 * 86_400_000);
    assert.equal(later.token, a.token);
    assert.notEqual(later.certSha256, a.certSha256);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const descriptor = appDescriptorSchema.parse({
  name: 'blur',
  version: '1.0.0',
  entry: 'app.mjs',
  resources: { memoryMiB: 64, cpuShare: 1, diskMiB: 1 },
  parameters: { threshold: { type: 'number', default: 0.5 } },
  inputs: { video_in: { type: 'video' } },
  outputs: { video_out: { type: 'video' } },
  models: { face: { package: 'blazeface' } },
});

function graph(edges: DesiredApp['edges']): DesiredApp {
  return {
    instanceId: 'i',
    app: 'a',
    revision: 1,
    manifestSha256: 'a'.repeat(64),
    code: [],
    models: [],
    cameras: [{ node: 'camera', cameraId: 'c', camera: 'door', url: 'file:///x.mp4', hasCredentials: false, paused: false }],
    outputs: ['out'],
    edges,
    parameters: {},
    trustedKeyIds: [],
    stageTimeoutsSeconds: { downloading: 1, verifying: 1, starting: 1 },
  };
}

test('the graph is resolved against the descriptors; a wrong edge names itself', () => {
  const ok = [
    { from: 'camera', to: 'blur.video_in' },
    { from: 'face', to: 'blur.face' },
    { from: 'threshold', to: 'blur.threshold' },
    { from: 'blur.video_out', to: 'out' },
  ];
  const app = { ...graph(ok), models: [{ node: 'face', package: {} as DesiredApp['models'][number]['package'] }] };
  const w = resolveWiring(app, new Map([['blur', descriptor]]));
  assert.deepEqual(w.cameras.get('camera'), [{ kind: 'input', node: 'blur', port: 'video_in' }]);
  assert.equal(w.models.get('blur')?.get('face'), 'face');
  assert.deepEqual(w.outputs.get('blur.video_out'), [{ kind: 'output', node: 'out' }]);
  const bad = (edges: DesiredApp['edges'], path: string): void =>
    assert.throws(
      () => resolveWiring({ ...app, edges }, new Map([['blur', descriptor]])),
      (e: { code?: string; details?: { path?: string } }) => {
        assert.equal(e.code, 'APP_GRAPH_INVALID');
        assert.equal(e.details?.path, path);
        return true;
      },
    );
  bad([...ok.slice(0, 3), { from: 'blur.video_out', to: 'out' }, { from: 'camera', to: 'blur.nope' }], 'edges[4]');
  bad([{ from: 'camera', to: 'out' }, ...ok], 'edges[0]');
  bad([...ok, { from: 'face', to: 'blur.video_in' }], 'edges[4]');
  assert.throws(
    () => resolveWiring({ ...app, edges: ok.filter((e) => e.from !== 'face') }, new Map([['blur', descriptor]])),
    /No model node is bound to blur.face/,
  );
});
