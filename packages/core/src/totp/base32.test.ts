import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base32Decode, base32Encode } from './base32.js';

// RFC 4648 §10 test vectors (padding removed on output).
const VECTORS: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  ['f', 'MY======'],
  ['fo', 'MZXQ===='],
  ['foo', 'MZXW6==='],
  ['foob', 'MZXW6YQ='],
  ['fooba', 'MZXW6YTB'],
  ['foobar', 'MZXW6YTBOI======'],
];

test('base32Encode matches RFC 4648 §10 without padding', () => {
  for (const [plain, encoded] of VECTORS) {
    assert.equal(base32Encode(Buffer.from(plain)), encoded.replace(/=+$/, ''));
  }
});

test('base32Decode accepts padded, unpadded, lower-case and spaced text', () => {
  for (const [plain, encoded] of VECTORS) {
    assert.equal(Buffer.from(base32Decode(encoded)).toString(), plain);
    assert.equal(Buffer.from(base32Decode(encoded.replace(/=+$/, ''))).toString(), plain);
    assert.equal(Buffer.from(base32Decode(encoded.toLowerCase())).toString(), plain);
  }
  assert.equal(Buffer.from(base32Decode('mzxw 6ytb oi')).toString(), 'foobar');
});

test('base32 round-trips random bytes of every length', () => {
  for (let n = 0; n < 41; n++) {
    const bytes = new Uint8Array(Array.from({ length: n }, (_, i) => (i * 97 + n * 31) & 0xff));
    assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
  }
});

test('base32Decode rejects bad characters and impossible lengths without echoing them', () => {
  for (const bad of ['MZXW1YTB', 'MZXW8YTB', 'MZXW-YTB', 'MZ=XW6', 'MZXW6YTB0', 'M', 'MZX', 'MZXW6Y']) {
    assert.throws(
      () => base32Decode(bad),
      (err: unknown) => err instanceof Error && 'code' in err && err.code === 'BASE32_INVALID' && !err.message.includes(bad),
      bad,
    );
  }
});
