import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANCHOR_COUNT, OUTPUTS, anchors, decodeCandidates, decodeFaces, iou, weightedNms, type Face } from './blazeface.js';
import { tileStarts, tiles, expandBox } from './detect.js';

/** Model outputs with every score very low except the anchors given. */
function outputs(hits: Array<{ anchor: number; logit: number; box: number[] }>): Record<string, Float32Array> {
  const s16 = new Float32Array(512).fill(-20);
  const s8 = new Float32Array(384).fill(-20);
  const b16 = new Float32Array(512 * 16);
  const b8 = new Float32Array(384 * 16);
  for (const h of hits) {
    const [s, b, i] = h.anchor < 512 ? [s16, b16, h.anchor] : [s8, b8, h.anchor - 512];
    s[i] = h.logit;
    b.set(h.box, i * 16);
  }
  return { [OUTPUTS.scores16]: s16, [OUTPUTS.scores8]: s8, [OUTPUTS.boxes16]: b16, [OUTPUTS.boxes8]: b8 };
}

test('896 anchors: 16x16 cells x 2, then 8x8 cells x 6, row by row', () => {
  const a = anchors();
  assert.equal(ANCHOR_COUNT, 896);
  assert.equal(a.length, 896 * 2);
  assert.deepEqual([a[0], a[1], a[2], a[3]], [0.5 / 16, 0.5 / 16, 0.5 / 16, 0.5 / 16]); // cell (0,0), both anchors
  assert.deepEqual([a[4], a[5]], [1.5 / 16, 0.5 / 16]); // cell (1,0)
  assert.deepEqual([a[32 * 2], a[32 * 2 + 1]], [0.5 / 16, 1.5 / 16]); // cell (0,1) starts at anchor 32
  assert.deepEqual([a[512 * 2], a[512 * 2 + 1]], [0.5 / 8, 0.5 / 8]); // first 8x8 cell
  assert.deepEqual([a[895 * 2], a[895 * 2 + 1]], [7.5 / 8, 7.5 / 8]);
});

test('decoding: centre = anchor + d, size = wh, keypoints like the centre, sigmoid scores', () => {
  // Anchor 512 + 6*9 = cell (1,1) of the 8x8 grid: centre (1.5/8, 1.5/8) * 256 = (48, 48).
  const out = outputs([{ anchor: 512 + 6 * 9, logit: 2, box: [4, -2, 30, 40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] }]);
  const [f, ...rest] = decodeCandidates(out, 0.5);
  assert.equal(rest.length, 0);
  assert.ok(Math.abs(f!.score - 1 / (1 + Math.exp(-2))) < 1e-9);
  assert.deepEqual([f!.x1, f!.y1, f!.x2, f!.y2], [48 + 4 - 15, 48 - 2 - 20, 48 + 4 + 15, 48 - 2 + 20]);
  assert.deepEqual(f!.keypoints[0], [49, 50]);
  assert.deepEqual(f!.keypoints[5], [59, 60]);
  // Below the threshold: nothing.
  assert.equal(decodeCandidates(out, 0.9).length, 0);
});

test('weighted NMS at IoU 0.3: overlapping finds become one score-weighted face, apart ones stay', () => {
  const f = (x1: number, score: number): Face => ({ x1, y1: 0, x2: x1 + 10, y2: 10, score, keypoints: [[x1, 0]] });
  const merged = weightedNms([f(0, 0.9), f(1, 0.6), f(50, 0.8)]);
  assert.equal(merged.length, 2);
  assert.equal(merged[0]!.score, 0.9);
  assert.ok(Math.abs(merged[0]!.x1 - (0 * 0.9 + 1 * 0.6) / 1.5) < 1e-9);
  assert.ok(Math.abs(merged[0]!.keypoints[0]![0] - 0.4) < 1e-9);
  assert.equal(merged[1]!.x1, 50);
  // IoU of boxes offset by 6 of 10: 4/16 = 0.25 <= 0.3, kept apart.
  assert.equal(weightedNms([f(0, 0.9), f(6, 0.8)]).length, 2);
  assert.equal(iou(f(0, 1), f(6, 1)), 0.25);
});

test('a missing or short output is an error, not a silent zero faces', () => {
  const out = outputs([]);
  delete out[OUTPUTS.boxes8];
  assert.throws(() => decodeFaces(out, 0.5), /Identity_3:0/);
});

test('tiles overlap, cover the frame and end at its edges', () => {
  assert.deepEqual(tileStarts(768, 192, 0.25), [0, 144, 288, 432, 576]);
  assert.deepEqual(tileStarts(576, 192, 0.25), [0, 128, 256, 384]);
  assert.deepEqual(tileStarts(100, 192, 0.25), [0]);
  const t = tiles(768, 576, 192);
  assert.equal(t.length, 20);
  assert.deepEqual(t.at(-1), { x: 576, y: 384, width: 192, height: 192 });
  assert.deepEqual(tiles(100, 80, 192), [{ x: 0, y: 0, width: 100, height: 80 }]);
});

test('expandBox grows a box by a fraction, clipped to the frame', () => {
  assert.deepEqual(expandBox({ x1: 10, y1: 10, x2: 20, y2: 30 }, 0.2, 100, 100), [9, 8, 21, 32]);
  assert.deepEqual(expandBox({ x1: 0, y1: 0, x2: 100, y2: 100 }, 0.2, 100, 100), [0, 0, 100, 100]);
});
