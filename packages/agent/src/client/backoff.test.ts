import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

test('backoff doubles up to the cap, with half of each delay random, and resets', () => {
  const low = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => low.next()),
    [50, 100, 200, 400, 500, 500],
  );
  const high = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => high.next()),
    [100, 200, 400, 800, 1000],
  );
  high.reset();
  assert.equal(high.failures, 0);
  assert.equal(high.next(), 100);
});

test('jitter spreads agents that failed together', () => {
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const delays = Array.from({ length: 50 }, () => {
    const b = new Backoff({ baseMs: 1000, maxMs: 60_000, random: rnd });
    for (let i = 0; i < 5; i++) b.next();
    return b.next();
  });
  assert.ok(new Set(delays).size > 40, 'delays differ between agents');
  assert.ok(delays.every((d) => d >= 16_000 && d <= 32_000));
});
