import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineApp, requireOutput } from '../app.js';
import { SdkError } from '../errors.js';
import { Frame } from '../frame.js';
import { TestHarness } from './harness.js';

const descriptor = {
  name: 'harness',
  version: '1.0.0',
  entry: 'src/app.ts',
  resources: { memoryMiB: 64, cpuShare: 1, diskMiB: 1 },
  parameters: { fill: { type: 'number', default: 9, overridable: true }, locked: { type: 'string', default: 'x' } },
  inputs: { video_in: { type: 'video' } },
  outputs: { video_out: { type: 'video' } },
  models: { m: { package: 'm' } },
} as const;

const fillApp = defineApp({
  descriptor,
  async run(ctx) {
    while (!ctx.signal.aborted) {
      const f = await ctx.inputs.video_in.get();
      if (f === null) continue;
      f.data.fill(ctx.parameters.fill);
      const out = await ctx.models.m.run(new Float32Array([f.timestamp]));
      ctx.metrics.count('sum', requireOutput(out, 'y')[0] ?? 0);
      await ctx.outputs.video_out.put(f);
    }
  },
});

test('feeds frames in order, collects outputs and metrics, stops when drained; inputs are copied', async () => {
  const input = Frame.blank(2, 2, { timestamp: 1 });
  const h = new TestHarness(fillApp, { parameters: { fill: 7 }, models: { m: (x) => ({ y: x.map((v) => v * 10) }) } });
  h.feed('video_in', [input, Frame.blank(2, 2, { timestamp: 2 })]);
  await h.run();
  assert.deepEqual(
    h.outputs('video_out').map((f) => [f.timestamp, f.data[0]]),
    [
      [1, 7],
      [2, 7],
    ],
  );
  assert.equal(h.metric('sum'), 30);
  assert.equal(h.modelCalls, 2);
  assert.equal(input.data[0], 0);
});

test('checks overrides as the agent does, and names what is missing', async () => {
  await assert.rejects(new TestHarness(fillApp, { parameters: { locked: 'y' } }).run(), { code: 'PARAMETER_INVALID' });
  const h = new TestHarness(fillApp);
  h.feed('video_in', Frame.blank(1, 1));
  await assert.rejects(
    h.run(),
    (e: unknown) => e instanceof SdkError && e.code === 'UNKNOWN_MODEL' && /options\.models\.m/.test(e.message),
  );
  assert.throws(() => h.feed('nope' as 'video_in', Frame.blank(1, 1)), { code: 'UNKNOWN_INPUT' });
});

test('runtime guards for JavaScript apps: unknown names throw, bad metric names and storage keys throw', async () => {
  const seen: string[] = [];
  const app = defineApp({
    descriptor,
    async run(ctx) {
      const loose = ctx as unknown as { inputs: Record<string, unknown> };
      for (const f of [
        () => loose.inputs.vidoe_in,
        () => ctx.metrics.count('bad name'),
        () => ctx.storage.get('a key with spaces'),
        () => ctx.storage.set('k', 'x'.repeat(256 * 1024 + 1)),
      ]) {
        try {
          await f();
          seen.push('ok');
        } catch (e) {
          seen.push((e as SdkError).code);
        }
      }
      await ctx.storage.set('k', 'v');
      seen.push((await ctx.storage.get('k')) ?? 'null');
    },
  });
  const h = new TestHarness(app, { storageQuota: 10 });
  await h.run();
  assert.deepEqual(seen, ['UNKNOWN_INPUT', 'METRIC_NAME_INVALID', 'STORAGE_KEY_INVALID', 'STORAGE_VALUE_TOO_LARGE', 'v']);
  assert.equal(h.storage.get('k'), 'v');
});

test('an app that never returns times out; one that throws rejects with its error', async () => {
  const stuck = defineApp({ descriptor, run: () => new Promise(() => undefined) });
  await assert.rejects(new TestHarness(stuck).run({ timeoutMs: 50 }), { code: 'CHANNEL_TIMEOUT' });
  const boom = defineApp({
    descriptor,
    run: () => Promise.reject(new Error('boom')),
  });
  await assert.rejects(new TestHarness(boom).run(), /boom/);
});

test('defineApp refuses a bad descriptor at once', () => {
  assert.throws(
    () => defineApp({ descriptor: { ...descriptor, resources: { memoryMiB: 1, cpuShare: 1, diskMiB: 1 } }, run: () => Promise.resolve() }),
    {
      code: 'DESCRIPTOR_INVALID',
    },
  );
});
