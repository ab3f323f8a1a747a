// Test helpers shared by this folder's tests; not exported from index.ts.
import { strict as assert } from 'node:assert';
import { EnvelopeError, type EnvelopeErrorCode } from './errors.js';

export function assertEnvelopeError(err: unknown, code: EnvelopeErrorCode, what = ''): void {
  assert.ok(err instanceof EnvelopeError, `${what}: expected EnvelopeError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, what);
}

/** Runs `f` and asserts it throws an EnvelopeError with `code`. */
export function throwsCode(f: () => unknown, code: EnvelopeErrorCode): void {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown !== undefined, `expected ${code}, nothing was thrown`);
  assertEnvelopeError(thrown, code);
}

/** Deterministic PRNG (mulberry32), so random chunkings replay the same way. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n bytes counting up from `start` (mod 256): readable test keys and plaintexts. */
export function bytes(n: number, start = 0): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) & 0xff;
  return out;
}
