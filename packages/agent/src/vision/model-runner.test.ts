import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VisionError } from './errors.js';
import { loadModelPackage, MODEL_DESCRIPTOR_FILE } from './model-package.js';
import { ModelRunnerClient } from './model-runner-client.js';

/**
 * The model runner as the agent runs it: a real process with
 * onnxruntime-node and the BlazeFace package of the example app.
 */

const here = dirname(fileURLToPath(import.meta.url));
const MODEL_DIR = join(here, '../../../../examples/privacy-blur/model');
const INPUT = 256 * 256 * 3;
const tmp = mkdtempSync(join(tmpdir(), 'sl-vision-'));
let runner: ModelRunnerClient;

before(async () => {
  runner = await ModelRunnerClient.start({ pkg: MODEL_DIR });
});
after(async () => {
  await runner.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A copy of the model package with its descriptor changed by `edit`. */
function variant(name: string, edit: (d: Record<string, unknown>) => void, copyModel = true): string {
  const dir = join(tmp, name);
  const d = JSON.parse(readFileSync(join(MODEL_DIR, MODEL_DESCRIPTOR_FILE), 'utf8')) as Record<string, unknown>;
  edit(d);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MODEL_DESCRIPTOR_FILE), JSON.stringify(d));
  if (copyModel)
    copyFileSync(join(MODEL_DIR, 'face_detection_back_256x256_barracuda.onnx'), join(dir, 'face_detection_back_256x256_barracuda.onnx'));
  return dir;
}

test('answers with the four named outputs of the sizes the README gives', async (t) => {
  const out = await runner.run('app-a', new Float32Array(INPUT));
  assert.deepEqual(Object.keys(out).sort(), ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0']);
  assert.equal(out['Identity:0']!.length, 512);
  assert.equal(out['Identity_1:0']!.length, 384);
  assert.equal(out['Identity_2:0']!.length, 512 * 16);
  assert.equal(out['Identity_3:0']!.length, 384 * 16);
  assert.ok(out['Identity:0'] instanceof Float32Array);
  // Timing, for the report (one intra-op thread).
  const t0 = performance.now();
  const n = 10;
  for (let i = 0; i < n; i++) await runner.run('app-a', new Float32Array(INPUT).fill(i / n));
  t.diagnostic(
    `256x256 BlazeFace: ${((performance.now() - t0) / n).toFixed(1)} ms per request through the runner, ${runner.stats().meanMs.toFixed(1)} ms inside onnxruntime (1 thread)`,
  );
  assert.deepEqual(runner.spec.input, { name: 'input:0', shape: [1, 256, 256, 3], layout: 'NHWC', color: 'RGB', range: [-1, 1] });
});

test('drops, not queues, a second request from an app whose first is still at the model', async () => {
  const before = runner.stats();
  const first = runner.run('app-b', new Float32Array(INPUT));
  const second = runner.run('app-b', new Float32Array(INPUT));
  await assert.rejects(second, (e: unknown) => e instanceof VisionError && e.code === 'MODEL_BUSY');
  await first;
  const after = runner.stats();
  assert.equal(after.drops - before.drops, 1);
  assert.equal(after.byApp['app-b']!.drops, 1);
  assert.equal(after.byApp['app-b']!.runs, 1);
  // Once answered, the app may ask again.
  await runner.run('app-b', new Float32Array(INPUT));
});

test('requests of different apps wait their turn and are all answered', async () => {
  const results = await Promise.all(['c1', 'c2', 'c3'].map((app) => runner.run(app, new Float32Array(INPUT))));
  assert.equal(results.length, 3);
  for (const r of results) assert.equal(r['Identity:0']!.length, 512);
  for (const app of ['c1', 'c2', 'c3']) assert.deepEqual(runner.stats().byApp[app], { runs: 1, drops: 0 });
});

test('a tensor of the wrong size is refused before it reaches the runner', async () => {
  const runs = runner.stats().runs;
  await assert.rejects(runner.run('app-d', new Float32Array(10)), { code: 'MODEL_INPUT_INVALID' });
  await assert.rejects(runner.run('app-d', new Uint8Array(INPUT) as unknown as Float32Array), { code: 'MODEL_INPUT_INVALID' });
  assert.equal(runner.stats().runs, runs);
  // The app is not left marked busy.
  await runner.run('app-d', new Float32Array(INPUT));
});

test('model packages are checked before anything is loaded', async () => {
  await assert.rejects(loadModelPackage(join(tmp, 'nowhere')), { code: 'MODEL_PACKAGE_INVALID' });
  const tampered = variant('tampered', (d) => (d.sha256 = '0'.repeat(64)));
  await assert.rejects(loadModelPackage(tampered), { code: 'MODEL_HASH_MISMATCH' });
  await assert.rejects(ModelRunnerClient.start({ pkg: tampered }), { code: 'MODEL_HASH_MISMATCH' });
  const escape = variant('escape', (d) => (d.file = '../model/face_detection_back_256x256_barracuda.onnx'));
  await assert.rejects(
    loadModelPackage(escape),
    (e: unknown) => e instanceof VisionError && e.code === 'MODEL_PACKAGE_INVALID' && /file/.test(String(e.details?.path)),
  );
  const typo = variant('typo', (d) => (d.ouputs = d.outputs));
  await assert.rejects(loadModelPackage(typo), { code: 'MODEL_PACKAGE_INVALID' });
  const layout = variant('layout', (d) => ((d.input as Record<string, unknown>).layout = 'HWC'));
  await assert.rejects(loadModelPackage(layout), (e: unknown) => e instanceof VisionError && e.details?.path === 'input.layout');
});

test('a descriptor that disagrees with the model fails to load (name, outputs, shape)', async () => {
  const wrongInput = variant('wrong-input', (d) => ((d.input as Record<string, unknown>).name = 'image'));
  await assert.rejects(
    ModelRunnerClient.start({ pkg: wrongInput }),
    (e: unknown) => e instanceof VisionError && e.code === 'MODEL_LOAD_FAILED' && /no input "image"/.test(e.message),
  );
  const wrongOutput = variant('wrong-output', (d) => (d.outputs = ['Identity:0', 'boxes']));
  await assert.rejects(
    ModelRunnerClient.start({ pkg: wrongOutput }),
    (e: unknown) => e instanceof VisionError && /no output boxes/.test(e.message),
  );
  const wrongShape = variant('wrong-shape', (d) => ((d.input as Record<string, unknown>).shape = [1, 128, 128, 3]));
  await assert.rejects(
    ModelRunnerClient.start({ pkg: wrongShape }),
    (e: unknown) => e instanceof VisionError && /disagrees/.test(e.message),
  );
});

test('a runner that dies fails what waits with MODEL_UNAVAILABLE and reports its exit', async () => {
  let exited = false;
  const r = await ModelRunnerClient.start({ pkg: MODEL_DIR, onExit: () => (exited = true) });
  const pending = r.run('app-e', new Float32Array(INPUT));
  process.kill(r.pid!, 'SIGKILL');
  await assert.rejects(pending, { code: 'MODEL_UNAVAILABLE' });
  await assert.rejects(r.run('app-e', new Float32Array(INPUT)), { code: 'MODEL_UNAVAILABLE' });
  await r.close();
  assert.equal(exited, true);
});
