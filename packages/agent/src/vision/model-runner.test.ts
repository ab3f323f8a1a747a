import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type Socket } from 'node:net';
import {
  WIRE_HEADER_BYTES,
  WIRE_MAGIC,
  WIRE_STATUS_OK,
  WireReader,
  decodeOutputs,
  encodeRequest,
  type WireHeader,
} from '@sightline/sdk/wire';
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

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

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

/** A connected socket pair: the agent's end (handed to the runner) and the app's end (raw bytes in this test). */
async function socketPair(name: string): Promise<{ agentEnd: Socket; appEnd: Socket }> {
  const path = join(tmp, `${name}.sock`);
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const appEnd = connect(path);
  const agentEnd = await accepted;
  server.close();
  return { agentEnd, appEnd };
}

/** Reads wire replies from the app's end. */
function replies(socket: Socket): { next(): Promise<{ h: WireHeader; body: Uint8Array }>; closed: Promise<void> } {
  const queue: Array<{ h: WireHeader; body: Uint8Array }> = [];
  const waiters: Array<(m: { h: WireHeader; body: Uint8Array }) => void> = [];
  const reader = new WireReader(
    1 << 24,
    (h, body) => {
      const w = waiters.shift();
      if (w !== undefined) w({ h, body });
      else queue.push({ h, body });
    },
    () => socket.destroy(),
  );
  socket.on('data', (c: Buffer) => reader.push(c));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
    closed,
  };
}

function errorOf(body: Uint8Array): { code: string; message: string } {
  return JSON.parse(Buffer.from(body).toString('utf8')) as { code: string; message: string };
}

test('direct channel: uint8 pixels are mapped to the model range and answered like the float tensor', async () => {
  const { agentEnd, appEnd } = await socketPair('direct-ok');
  await runner.attach('app-f', agentEnd);
  const r = replies(appEnd);
  const pixels = new Uint8Array(INPUT);
  for (let i = 0; i < INPUT; i++) pixels[i] = (i * 7) % 256;
  for (const part of encodeRequest(41, pixels)) appEnd.write(part);
  const { h, body } = await r.next();
  assert.equal(h.id, 41);
  assert.equal(h.kind, WIRE_STATUS_OK);
  const [scores16, scores8, boxes16, boxes8] = decodeOutputs(body, h.count);
  assert.deepEqual([scores16!.length, scores8!.length, boxes16!.length, boxes8!.length], [512, 384, 512 * 16, 384 * 16]);
  // The same image as floats over IPC (range [-1, 1]) gives the same outputs.
  const floats = Float32Array.from(pixels, (p) => -1 + (2 * p) / 255);
  const ref = await runner.run('app-f-ref', floats);
  assert.ok(Math.max(...[...scores16!].map((v, i) => Math.abs(v - ref['Identity:0']![i]!))) < 1e-4);
  // Float tensors are taken on the channel too.
  for (const part of encodeRequest(42, floats)) appEnd.write(part);
  const again = await r.next();
  assert.equal(again.h.kind, WIRE_STATUS_OK);
  assert.equal(decodeOutputs(again.body, again.h.count)[0]![7], scores16![7]);
  await waitUntil(() => runner.stats().byApp['app-f']?.runs === 2);
  appEnd.destroy();
});

test('direct channel: back-to-back requests are served or dropped (MODEL_BUSY), never queued twice; a wrong size is MODEL_INPUT_INVALID', async () => {
  const { agentEnd, appEnd } = await socketPair('direct-busy');
  await runner.attach('app-g', agentEnd);
  const r = replies(appEnd);
  const pixels = new Uint8Array(INPUT);
  appEnd.cork();
  for (const part of [...encodeRequest(1, pixels), ...encodeRequest(2, pixels)]) appEnd.write(part);
  appEnd.uncork();
  const got = [await r.next(), await r.next()].sort((a, b) => a.h.id - b.h.id);
  assert.equal(got[0]!.h.kind, WIRE_STATUS_OK);
  // onnxruntime blocks the runner while it computes, so the second request is usually read only after
  // the first was answered (then it is served); when it was read while the first waited, it is dropped.
  const second = got[1]!.h.kind === WIRE_STATUS_OK ? 'served' : errorOf(got[1]!.body).code;
  assert.ok(second === 'served' || second === 'MODEL_BUSY', second);
  for (const part of encodeRequest(3, new Uint8Array(10))) appEnd.write(part);
  const bad = await r.next();
  assert.equal(bad.h.id, 3);
  assert.equal(errorOf(bad.body).code, 'MODEL_INPUT_INVALID');
  // The channel is still open and serves the next good request.
  for (const part of encodeRequest(4, pixels)) appEnd.write(part);
  assert.equal((await r.next()).h.kind, WIRE_STATUS_OK);
  await waitUntil(() => runner.stats().byApp['app-g']?.drops === (second === 'served' ? 0 : 1));
  appEnd.destroy();
});

test('direct channel: a hostile app (oversized or garbled framing) is refused with a code and cut off; the runner stays up', async () => {
  const before = runner.stats().refused;
  // A header that announces 2 GiB: refused before anything is allocated.
  const big = await socketPair('hostile-big');
  await runner.attach('app-h', big.agentEnd);
  const r1 = replies(big.appEnd);
  const head = Buffer.alloc(WIRE_HEADER_BYTES);
  head.writeUInt32LE(WIRE_MAGIC, 0);
  head.writeUInt32LE(1, 4);
  head.writeUInt8(1, 8);
  head.writeUInt32LE(0x80000000, 12);
  big.appEnd.write(head);
  const refusal = await r1.next();
  assert.equal(errorOf(refusal.body).code, 'PROTOCOL_ERROR');
  assert.match(errorOf(refusal.body).message, /over the .*cap/);
  await r1.closed;
  // Garbage bytes (no magic).
  const junk = await socketPair('hostile-junk');
  await runner.attach('app-i', junk.agentEnd);
  const r2 = replies(junk.appEnd);
  junk.appEnd.write(Buffer.from('GET / HTTP/1.1\r\nHost: runner\r\n\r\n'));
  assert.equal(errorOf((await r2.next()).body).code, 'PROTOCOL_ERROR');
  await r2.closed;
  await waitUntil(() => runner.stats().refused === before + 2);
  // The runner still answers everyone else.
  const out = await runner.run('app-j', new Float32Array(INPUT));
  assert.equal(out['Identity:0']!.length, 512);
});
