import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Frame } from '../frame.js';
import { mapBox, specSize, toTensor, toTensorBytes, type TensorSpec } from './tensor.js';

const NHWC: TensorSpec = { shape: [1, 4, 4, 3], layout: 'NHWC', range: [-1, 1] };

test('letterbox: aspect kept, centred, padding black, values in range', () => {
  // 8x4 red frame -> 4x4: content 4x2 in rows 1..2, black rows 0 and 3.
  const f = Frame.blank(8, 4, { fill: [255, 0, 0] });
  const { data, transform, width, height } = toTensor(f, NHWC);
  assert.deepEqual([width, height], [4, 4]);
  const px = (x: number, y: number) => [...data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3)];
  assert.deepEqual(px(0, 0), [-1, -1, -1]);
  assert.deepEqual(px(2, 1), [1, -1, -1]);
  assert.deepEqual(px(3, 2), [1, -1, -1]);
  assert.deepEqual(px(1, 3), [-1, -1, -1]);
  // Model pixel (0,1) is the frame's top-left corner; (4,3) its bottom-right.
  assert.deepEqual(mapBox(transform, 0, 1, 4, 3), [0, 0, 8, 4]);
});

test('stretch, NCHW, BGR, [0,1] by default, a region, and a reused buffer', () => {
  const f = Frame.blank(4, 4, { fill: [0, 0, 0] });
  // Left half white.
  for (let y = 0; y < 4; y++) for (let x = 0; x < 2; x++) f.data.set([255, 128, 0], (y * 4 + x) * 3);
  const spec: TensorSpec = { shape: [1, 3, 2, 2], layout: 'NCHW', color: 'BGR' };
  const out = new Float32Array(12);
  const r = toTensor(f, spec, { fit: 'stretch', region: { x: 0, y: 0, width: 2, height: 4 }, out });
  assert.equal(r.data, out);
  // Plane 0 is blue (0), plane 1 green (128/255), plane 2 red (1).
  assert.deepEqual([...out.subarray(0, 4)], [0, 0, 0, 0]);
  assert.ok(Math.abs(out[4]! - 128 / 255) < 1e-6);
  assert.deepEqual([...out.subarray(8, 12)], [1, 1, 1, 1]);
  assert.deepEqual(mapBox(r.transform, 0, 0, 2, 2), [0, 0, 2, 4]);
});

test('bilinear: a horizontal ramp stays a ramp when halved', () => {
  const f = Frame.blank(8, 1);
  for (let x = 0; x < 8; x++) f.data.set([x * 30, x * 30, x * 30], x * 3);
  const { data } = toTensor(f, { shape: [1, 1, 4, 3], layout: 'NHWC', range: [0, 255] }, { fit: 'stretch' });
  // Output pixel i samples source x = 2i + 0.5: the mean of pixels 2i and 2i+1.
  assert.deepEqual([data[0], data[3], data[6], data[9]], [15, 75, 135, 195]);
});

test('bad specs and regions are refused with codes', () => {
  const f = Frame.blank(4, 4);
  assert.throws(() => specSize({ shape: [1, 4, 4, 1], layout: 'NHWC' }), { code: 'MODEL_INPUT_INVALID' });
  assert.throws(() => specSize({ shape: [1, 4, 4], layout: 'NHWC' }), { code: 'MODEL_INPUT_INVALID' });
  assert.throws(() => toTensor(f, NHWC, { region: { x: 10, y: 10, width: 5, height: 5 } }), { code: 'FRAME_INVALID' });
  assert.throws(() => toTensor(f, NHWC, { out: new Float32Array(3) }), { code: 'MODEL_INPUT_INVALID' });
});

test('toTensorBytes: the same pixels as toTensor before the range mapping, rounded to bytes; same transform', () => {
  const f = Frame.blank(37, 23, { fill: [0, 0, 0] });
  for (let i = 0; i < f.data.length; i++) f.data[i] = (i * 53) % 256;
  for (const spec of [
    { shape: [1, 16, 16, 3], layout: 'NHWC', range: [-1, 1] },
    { shape: [1, 3, 12, 20], layout: 'NCHW', color: 'BGR' },
  ] as const) {
    const floats = toTensor(f, spec, { region: { x: 3, y: 2, width: 30, height: 19 }, padValue: 114 });
    const bytes = toTensorBytes(f, spec, { region: { x: 3, y: 2, width: 30, height: 19 }, padValue: 114 });
    assert.deepEqual(bytes.transform, floats.transform);
    const [lo, hi] = spec.range ?? [0, 1];
    let worst = 0;
    for (let i = 0; i < floats.data.length; i++)
      worst = Math.max(worst, Math.abs((floats.data[i]! - lo) * (255 / (hi - lo)) - bytes.data[i]!));
    assert.ok(worst <= 0.5001, `off by ${worst}`);
    assert.ok(bytes.data instanceof Uint8Array);
  }
  assert.throws(() => toTensorBytes(f, { shape: [1, 4, 4, 3], layout: 'NHWC' }, { out: new Uint8Array(5) }), {
    code: 'MODEL_INPUT_INVALID',
  });
});
