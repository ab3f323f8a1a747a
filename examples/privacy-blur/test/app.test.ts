import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SdkError, type ModelSpec } from '@sightline/sdk';
import { TestHarness } from '@sightline/sdk/testing';
import { ModelRunnerClient } from '../../../packages/agent/src/vision/index.js';
import app, { BLUR_MARGIN } from '../src/app.js';
import { expandBox } from '../src/detect.js';
import { MESSI_FACE, MODEL_DIR, meanDiffInside, messi, sameOutside } from './helpers.js';

/**
 * The app end to end in the SDK's TestHarness, with the model served by a
 * real model runner process (as on an appliance, minus the app sandbox).
 */

let runner: ModelRunnerClient;
let face: { run: (input: Float32Array) => Promise<Record<string, Float32Array>>; spec: ModelSpec };

before(async () => {
  runner = await ModelRunnerClient.start({ pkg: MODEL_DIR });
  face = { run: (input) => runner.run('harness', input), spec: runner.spec };
});
after(() => runner.close());

test('frame in, blurred frame out, faces counted', async () => {
  const frame = await messi();
  const h = new TestHarness(app, { models: { face } });
  h.feed('video_in', frame);
  await h.run();
  const [out, ...more] = h.outputs('video_out');
  assert.equal(more.length, 0);
  assert.equal(h.metric('faces'), 1);
  assert.equal(h.metric('frames'), 1);
  const [x1, y1, x2, y2] = expandBox(MESSI_FACE, BLUR_MARGIN, frame.width, frame.height);
  assert.ok(meanDiffInside(frame, out!, MESSI_FACE) > 8, 'the face was not blurred');
  // +-2 px: the detected box differs a little from the fixture's reference box.
  assert.ok(sameOutside(frame, out!, { x1: x1 - 2, y1: y1 - 2, x2: x2 + 2, y2: y2 + 2 }), 'pixels away from the face changed');
  assert.equal(out!.camera, 'fixture');
  assert.deepEqual(h.logs[0], {
    level: 'info',
    message: 'privacy-blur started',
    fields: { threshold: 0.75, tile: false, tileSize: 192, blur: true },
  });
});

test('several frames, tiles on: one model run per tile plus the whole frame', async () => {
  const frame = await messi();
  const h = new TestHarness(app, { models: { face }, parameters: { tile: true, tile_size: 192 } });
  h.feed('video_in', [frame, frame]);
  await h.run();
  assert.equal(h.outputs('video_out').length, 2);
  assert.equal(h.metric('faces'), 2);
  // 548x342 in 192 px tiles, at most 144 px apart: 4 x 3 tiles, + 1 whole frame, per frame.
  assert.equal(h.modelCalls, 2 * (4 * 3 + 1));
});

test('blur off: the frame passes unchanged, faces still counted', async () => {
  const frame = await messi();
  const h = new TestHarness(app, { models: { face }, parameters: { blur: false } });
  h.feed('video_in', frame);
  await h.run();
  assert.deepEqual(h.outputs('video_out')[0]!.data, frame.data);
  assert.equal(h.metric('faces'), 1);
});

test('a higher threshold than the face score: nothing blurred', async () => {
  const frame = await messi();
  const h = new TestHarness(app, { models: { face }, parameters: { threshold: 0.95 } });
  h.feed('video_in', frame);
  await h.run();
  assert.equal(h.metric('faces'), 0);
  assert.deepEqual(h.outputs('video_out')[0]!.data, frame.data);
});

test('fails closed: a frame whose detection could not run is dropped, never shown', async () => {
  const h = new TestHarness(app, {
    models: {
      face: () => {
        throw new SdkError('MODEL_BUSY', 'busy');
      },
    },
  });
  h.feed('video_in', await messi());
  await h.run();
  assert.equal(h.outputs('video_out').length, 0);
  assert.equal(h.metric('frames_dropped'), 1);
});

test('bad overrides are refused as the agent would refuse them', async () => {
  const wrongType = new TestHarness(app, { models: { face }, parameters: { threshold: 'high' as unknown as number } });
  await assert.rejects(
    wrongType.run(),
    (e: unknown) => e instanceof SdkError && e.code === 'PARAMETER_INVALID' && /threshold/.test(e.message),
  );
  const outOfRange = new TestHarness(app, { models: { face }, parameters: { threshold: 2 } });
  await assert.rejects(outOfRange.run(), { code: 'PARAMETER_INVALID' });
});
