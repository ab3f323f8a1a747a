import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Frame } from '@sightline/sdk';
import { FrameRing, startLocalApp, type LocalApp } from '@sightline/sdk/agent';
import { bundleApp, type BundleResult } from '@sightline/sdk/build';
import { ModelRunnerClient } from '../../../packages/agent/src/vision/index.js';
import { APP_DIR, MESSI_FACE, MODEL_DIR, meanDiffInside, messi, smallFaces } from './helpers.js';

/**
 * privacy-blur as the agent will run it: bundled into one module, in its own
 * process under the permission model (appLaunchSpec: reads only its package,
 * no addons), talking IPC to an AppEndpoint, with the model in a separate
 * runner process; both ways the agent serves apps: frames and tensors over
 * IPC (protocol 1), and frames through a tmpfs ring with uint8 tensors on a
 * socket straight to the runner (protocol 2, what the agent sets up). What the sandbox refuses is proven in
 * packages/sdk/test/sandbox.test.ts with a probe app; here the real app must
 * work inside it.
 */

const tmp = mkdtempSync(join(tmpdir(), 'sl-privacy-blur-'));
const pkgDir = join(tmp, 'pkg');
const storageDir = join(tmp, 'storage');
let bundle: BundleResult;
let runner: ModelRunnerClient;

before(async () => {
  mkdirSync(storageDir);
  bundle = await bundleApp(APP_DIR, pkgDir);
  copyFileSync(join(APP_DIR, 'descriptor.json'), join(pkgDir, 'descriptor.json'));
  runner = await ModelRunnerClient.start({ pkg: MODEL_DIR });
});
after(async () => {
  await runner.close();
  rmSync(tmp, { recursive: true, force: true });
});

let ipcRuns = 0;

async function start(parameters: Record<string, unknown>, onFrame: (f: Frame) => void, direct: boolean, id: string): Promise<LocalApp> {
  const ring = direct ? await FrameRing.create(['video_in'], ['video_out'], { slotBytes: 768 * 576 * 3 }) : undefined;
  return startLocalApp({
    entry: bundle.outFile,
    appDir: pkgDir,
    storageDir,
    descriptor: bundle.descriptor,
    instance: id,
    parameters,
    models: {
      face: {
        spec: runner.spec,
        run: (input) => {
          ipcRuns++;
          return runner.run(id, input);
        },
        ...(direct ? { attach: (socket) => runner.attach(id, socket) } : {}),
      },
    },
    ...(ring === undefined ? {} : { ring }),
    onFrame: (_output, f) => onFrame(new Frame(f)),
  });
}

test('the bundle is one self-contained module of modest size', () => {
  assert.ok(bundle.bytes < 2 * 1024 * 1024, `${bundle.bytes} bytes`);
  assert.equal(bundle.descriptor.name, 'privacy-blur');
});

for (const direct of [false, true]) {
  const how = direct ? 'frame ring + direct model socket' : 'IPC';
  test(`sandboxed app process (${how}): camera frame in, faces blurred out, metrics counted`, async (t) => {
    const id = direct ? 'pb-direct' : 'pb-ipc';
    const ipcBefore = ipcRuns;
    const frames: Frame[] = [];
    let arrived: () => void = () => undefined;
    const app = await start(
      {},
      (f) => {
        frames.push(f);
        arrived();
      },
      direct,
      id,
    );
    const original = await messi();
    let back = new Promise<void>((r) => (arrived = r));
    app.offer('video_in', original.clone());
    await back;
    const out = frames[0]!;
    assert.equal(out.width, original.width);
    assert.ok(meanDiffInside(original, out, MESSI_FACE) > 8, 'the face was not blurred');
    assert.deepEqual(out.pixel(20, 300), original.pixel(20, 300));

    // Per-frame time at camera size (768x576), whole-frame detection: IPC both ways + tensor + inference + blur.
    const cam = await smallFaces();
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      back = new Promise<void>((r) => (arrived = r));
      const t0 = performance.now();
      app.offer('video_in', cam.clone());
      await back;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    t.diagnostic(
      `privacy-blur 768x576, sandboxed, ${how}, per frame: min ${times[0]!.toFixed(1)} ms, median ${times[7]!.toFixed(1)} ms; model mean ${runner.stats().meanMs.toFixed(1)} ms inside onnxruntime`,
    );
    assert.equal(await app.stop(), 0);
    assert.deepEqual(app.exit, { ok: true });
    assert.equal(app.metrics.get('frames'), 16);
    assert.ok((app.metrics.get('faces') ?? 0) >= 1);
    assert.equal(app.endpoint.stats.protocolErrors, 0);
    assert.ok(app.logs.some((l) => l.message === 'privacy-blur started'));
    // Which path the tensors took: the agent's relay (IPC) or the runner's socket, never both.
    assert.equal(runner.stats().byApp[id]?.runs, 16);
    assert.equal(ipcRuns - ipcBefore, direct ? 0 : 16);
  });
}
