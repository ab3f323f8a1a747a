import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FramePool } from './frame-pool.js';

test('a released buffer is reused; one still held never is', () => {
  const pool = new FramePool(16, 4);
  const a = pool.take();
  a.data.fill(1);
  a.release();
  const b = pool.take();
  assert.equal(b.data, a.data, 'the released buffer comes back');
  assert.deepEqual([pool.allocated, pool.reused], [1, 1]);
  // b is held: every further take gets another buffer, and b's pixels stay as written.
  b.data.fill(7);
  for (let i = 0; i < 10; i++) {
    const c = pool.take();
    assert.notEqual(c.data, b.data);
    c.data.fill(i);
    c.release();
  }
  assert.ok(
    b.data.every((v) => v === 7),
    'a held frame was overwritten',
  );
});

test('a retained claim keeps the buffer out of the pool until it too is released', () => {
  const pool = new FramePool(8);
  const decoder = pool.take();
  decoder.data.fill(5);
  const reader = decoder.retain();
  decoder.release();
  assert.equal(pool.idle, 0, 'back in the pool while a reader holds it');
  const next = pool.take();
  assert.notEqual(next.data, reader.data);
  next.data.fill(9);
  assert.ok(reader.data.every((v) => v === 5));
  reader.release();
  assert.equal(pool.idle, 1);
  assert.equal(pool.take().data, reader.data);
});

test('release is once per claim: a second call cannot free a buffer another claim holds', () => {
  const pool = new FramePool(8);
  const a = pool.take();
  const b = a.retain();
  a.release();
  a.release(); // would drop the count to 0 if it counted twice
  assert.equal(pool.idle, 0);
  assert.notEqual(pool.take().data, b.data);
  assert.equal(a.released, true);
  assert.equal(b.released, false);
  assert.throws(() => a.retain(), /after release/);
});

test('an exhausted pool allocates instead of blocking or sharing, and keeps at most `keep` idle buffers', () => {
  const pool = new FramePool(32, 3);
  const held = Array.from({ length: 20 }, (_, i) => {
    const h = pool.take();
    h.data.fill(i);
    return h;
  });
  assert.equal(new Set(held.map((h) => h.data)).size, 20, 'two holders share a buffer');
  assert.deepEqual([pool.allocated, pool.reused], [20, 0]);
  held.forEach((h, i) => assert.ok(h.data.every((v) => v === i)));
  for (const h of held) h.release();
  assert.equal(pool.idle, 3);
  assert.throws(() => new FramePool(0), RangeError);
});
