import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Frame } from '../frame.js';
import { blurRegion, clampRect } from './blur.js';

/** A frame of random-looking but fixed pixels. */
function noise(w: number, h: number): Frame {
  const f = Frame.blank(w, h);
  let s = 12345;
  for (let i = 0; i < f.data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    f.data[i] = s >>> 24;
  }
  return f;
}

test('blurs inside the rectangle, leaves every pixel outside it alone', () => {
  const before = noise(64, 48);
  const after = before.clone();
  blurRegion(after, 10, 8, 30, 28);
  let changed = 0;
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 64; x++) {
      const i = (y * 64 + x) * 3;
      const inside = x >= 10 && x < 30 && y >= 8 && y < 28;
      const same = before.data[i] === after.data[i] && before.data[i + 1] === after.data[i + 1] && before.data[i + 2] === after.data[i + 2];
      if (!inside) assert.ok(same, `pixel (${x},${y}) outside changed`);
      else if (!same) changed++;
    }
  }
  assert.ok(changed > 0.9 * 20 * 20, `only ${changed} pixels changed`);
});

test('a blurred region loses its detail (variance falls) and keeps its mean', () => {
  const f = noise(40, 40);
  const stats = (fr: Frame) => {
    let sum = 0;
    let sq = 0;
    for (const v of fr.data) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / fr.data.length;
    return { mean, variance: sq / fr.data.length - mean * mean };
  };
  const a = stats(f);
  f.blur(0, 0, 40, 40);
  const b = stats(f);
  assert.ok(b.variance < a.variance / 20, `variance ${a.variance} -> ${b.variance}`);
  assert.ok(Math.abs(a.mean - b.mean) < 3);
});

test('a flat colour stays exactly the same', () => {
  const f = Frame.blank(20, 20, { fill: [200, 100, 50] });
  f.blur(0, 0, 20, 20, { radius: 7, passes: 3 });
  assert.deepEqual(f.pixel(10, 10), [200, 100, 50]);
  assert.deepEqual(f.pixel(0, 19), [200, 100, 50]);
});

test('rectangles are clipped to the frame; corners may come in any order; empty ones do nothing', () => {
  assert.deepEqual(clampRect({ width: 10, height: 10 }, -5, -5, 4.2, 3.7), { left: 0, top: 0, right: 5, bottom: 4 });
  assert.deepEqual(clampRect({ width: 10, height: 10 }, 8, 9, 2, 1), { left: 2, top: 1, right: 8, bottom: 9 });
  assert.equal(clampRect({ width: 10, height: 10 }, 20, 20, 30, 30), null);
  assert.equal(clampRect({ width: 10, height: 10 }, 3, 3, 3, 8), null);
  const f = noise(10, 10);
  const copy = f.clone();
  blurRegion(f, 20, 20, 30, 30);
  blurRegion(f, 3, 3, 3, 8);
  assert.deepEqual(f.data, copy.data);
  blurRegion(f, -100, -100, 1000, 1000); // whole frame, no throw
});
