import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Frame } from './frame.js';
import { drawRect, drawText, renderOverlays } from './image/draw.js';

test('a frame must be RGB24 of the size it claims', () => {
  assert.throws(() => new Frame({ width: 2, height: 2, data: new Uint8Array(11), timestamp: 0, camera: 'c' }), { code: 'FRAME_INVALID' });
  assert.throws(() => new Frame({ width: 0, height: 2, data: new Uint8Array(0), timestamp: 0, camera: 'c' }), { code: 'FRAME_INVALID' });
  assert.throws(() => new Frame({ width: 10000, height: 1, data: new Uint8Array(30000), timestamp: 0, camera: 'c' }), {
    code: 'FRAME_INVALID',
  });
  assert.throws(() => Frame.blank(2, 2).pixel(2, 0), { code: 'FRAME_INVALID' });
  const f = Frame.blank(2, 2, { fill: [1, 2, 3], camera: 'cam', timestamp: 7 });
  assert.deepEqual(f.pixel(1, 1), [1, 2, 3]);
  assert.equal(f.camera, 'cam');
  const c = f.addRect(0, 0, 1, 1).clone();
  assert.notEqual(c.data, f.data);
  assert.equal(c.overlays.length, 1);
});

test('overlays are drawn where asked, in the colour asked, clipped to the frame', () => {
  const f = Frame.blank(40, 30);
  f.addRect(5, 5, 20, 15, { color: [255, 0, 0], thickness: 1 }).addLabel('1', 30, 2, { color: [0, 0, 255], scale: 1 });
  renderOverlays(f, f.overlays);
  assert.deepEqual(f.pixel(5, 5), [255, 0, 0]);
  assert.deepEqual(f.pixel(12, 5), [255, 0, 0]);
  assert.deepEqual(f.pixel(19, 14), [255, 0, 0]);
  assert.deepEqual(f.pixel(12, 10), [0, 0, 0]); // inside the outline: untouched
  // '1' (5x7): row 0 is 00100 -> x = 32 lit, x = 30 not.
  assert.deepEqual(f.pixel(32, 2), [0, 0, 255]);
  assert.deepEqual(f.pixel(30, 2), [0, 0, 0]);
  drawRect(f, -10, -10, 100, 100); // no throw
  drawText(f, 'ünknown glyphs ok', 35, 25);
});
