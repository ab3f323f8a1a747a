import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapBox, toTensor } from '@sightline/sdk';
import { readImageFrame } from '@sightline/sdk/testing';
import { decodeFaces } from '../src/blazeface.js';
import { BLAZEFACE_INPUT, detectFaces, expandBox } from '../src/detect.js';
import { BLUR_MARGIN } from '../src/app.js';
import { MESSI, MESSI_FACE, SMALL_FACE, localFace, meanDiffInside, messi, sameOutside, smallFaces } from './helpers.js';

/**
 * The decoder and the blur on real pixels: messi5 (OpenCV sample data) and
 * the real BlazeFace model, run in the test's process.
 */

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual.toFixed(1)} not within ${tolerance} of ${expected}`);
}

test('messi5 letterboxed to 256: exactly one face, score >= 0.85, where the README says', async () => {
  const frame = await messi();
  assert.deepEqual([frame.width, frame.height], [548, 342]);
  const { data, transform } = toTensor(frame, BLAZEFACE_INPUT);
  // 548x342 -> 256x160, centred: 48 px of padding above and below.
  assert.deepEqual(transform, { sx: 548 / 256, sy: 548 / 256, tx: 0, ty: -48 * (548 / 256) });
  const faces = decodeFaces(await (await localFace())(data), 0.5);
  assert.equal(faces.length, 1);
  const [f] = faces;
  assert.ok(f!.score >= 0.85, `score ${f!.score}`);
  // In the 256 model input: x 103-121, y 93-110 (this fixture, this letterbox).
  near(f!.x1, 103.3, 2, 'x1 (model)');
  near(f!.y1, 92.8, 2, 'y1 (model)');
  near(f!.x2, 120.7, 2, 'x2 (model)');
  near(f!.y2, 110.2, 2, 'y2 (model)');
  // Back in the frame's pixels: x 221-258, y 96-133, which is the README's "x 222-259, y 95-133".
  const [x1, y1, x2, y2] = mapBox(transform, f!.x1, f!.y1, f!.x2, f!.y2);
  near(x1, 222, 3, 'x1');
  near(y1, 95, 3, 'y1');
  near(x2, 259, 3, 'x2');
  near(y2, 133, 3, 'y2');
  // Keypoints: both eyes above the nose, the nose above the mouth, all inside the box.
  const [re, le, nose, mouth] = f!.keypoints;
  assert.ok(re![1] < nose![1] && le![1] < nose![1] && nose![1] < mouth![1]);
  for (const [kx, ky] of f!.keypoints.slice(0, 4)) assert.ok(kx >= f!.x1 && kx <= f!.x2 && ky >= f!.y1 && ky <= f!.y2);
});

test('the same face when ffmpeg letterboxes to 256 upstream instead of the app', async () => {
  const small = await readImageFrame(MESSI, { width: 256, height: 256, pad: true });
  const faces = await detectFaces(small, await localFace(), { threshold: 0.75, tile: false, tileSize: 192 });
  assert.equal(faces.length, 1);
  const f = faces[0]!;
  assert.ok(f.score >= 0.85);
  near(f.x1, 103.3, 3, 'x1');
  near(f.y1, 92.8, 3, 'y1');
  near(f.x2, 120.7, 3, 'x2');
  near(f.y2, 110.2, 3, 'y2');
});

test('detectFaces maps the face to frame pixels', async () => {
  const faces = await detectFaces(await messi(), await localFace(), { threshold: 0.75, tile: false, tileSize: 192 });
  assert.equal(faces.length, 1);
  near(faces[0]!.x1, MESSI_FACE.x1, 2, 'x1');
  near(faces[0]!.y1, MESSI_FACE.y1, 2, 'y1');
  near(faces[0]!.x2, MESSI_FACE.x2, 2, 'x2');
  near(faces[0]!.y2, MESSI_FACE.y2, 2, 'y2');
});

test('a small, far face: missed on the whole frame, found in 192 px tiles', async () => {
  const frame = await smallFaces();
  const run = await localFace();
  const overlaps = (f: { x1: number; y1: number; x2: number; y2: number }): boolean =>
    Math.min(f.x2, SMALL_FACE.x2) - Math.max(f.x1, SMALL_FACE.x1) > 0 && Math.min(f.y2, SMALL_FACE.y2) - Math.max(f.y1, SMALL_FACE.y1) > 0;
  const whole = await detectFaces(frame, run, { threshold: 0.75, tile: false, tileSize: 192 });
  assert.equal(whole.filter(overlaps).length, 0, 'the whole-frame pass should miss the 19 px face');
  const tiled = await detectFaces(frame, run, { threshold: 0.75, tile: true, tileSize: 192 });
  const hit = tiled.filter(overlaps);
  assert.equal(hit.length, 1);
  assert.ok(hit[0]!.score >= 0.85, `score ${hit[0]!.score}`);
  near(hit[0]!.x1, SMALL_FACE.x1, 3, 'x1');
  near(hit[0]!.y1, SMALL_FACE.y1, 3, 'y1');
});

test('blurring the face: pixels inside change, every pixel outside stays, the face is no longer found', async () => {
  const original = await messi();
  const run = await localFace();
  const frame = original.clone();
  const [face] = await detectFaces(frame, run, { threshold: 0.75, tile: false, tileSize: 192 });
  const [x1, y1, x2, y2] = expandBox(face!, BLUR_MARGIN, frame.width, frame.height);
  frame.blur(x1, y1, x2, y2);
  const box = { x1, y1, x2, y2 };
  assert.ok(meanDiffInside(original, frame, face!) > 8, `mean change inside the face ${meanDiffInside(original, frame, face!)}`);
  assert.ok(sameOutside(original, frame, box), 'a pixel outside the blurred box changed');
  // The expanded box is ~20% larger than the face box, and stays inside the frame.
  near(x2 - x1, (face!.x2 - face!.x1) * 1.2, 1, 'width');
  const after = await detectFaces(frame, run, { threshold: 0.75, tile: false, tileSize: 192 });
  assert.equal(after.length, 0, 'the blurred face is still detectable');
});
