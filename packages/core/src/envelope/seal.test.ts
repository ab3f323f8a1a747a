import { strict as assert } from 'node:assert';
import { createCipheriv, createSecretKey } from 'node:crypto';
import { test } from 'node:test';
import { generateDataKey } from './keys.js';
import { MAX_SEAL_PLAINTEXT, SEAL_OVERHEAD, open, seal } from './seal.js';
import { bytes, throwsCode } from './testing.js';

const key = bytes(32);
const aad = Buffer.from('secret:cam-1');
// Frozen vector: "rtsp-password" sealed under key 00..1f with AAD "secret:cam-1".
const VECTOR = Buffer.from('01ab2d688c1d4015a27be697b6f39af5578a2a551a758b3e127bbe9b3c3e0bf1258d48b33bad0019386b', 'hex');

test('opens the frozen version 1 vector', () => {
  assert.equal(open(key, VECTOR, aad).toString(), 'rtsp-password');
});

test('the format is version | nonce | ciphertext | tag with the version in the AAD (independent construction)', () => {
  const sealed = seal(key, Buffer.from('hello'), aad);
  const nonce = sealed.subarray(1, 13);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.concat([Buffer.of(1), aad]));
  const body = Buffer.concat([c.update('hello'), c.final()]);
  assert.deepEqual(sealed, Buffer.concat([Buffer.of(1), nonce, body, c.getAuthTag()]));
});

test('round-trips sizes 0, 1, 1000 and the cap, with raw and KeyObject keys', () => {
  const keyObject = generateDataKey();
  for (const n of [0, 1, 1000, MAX_SEAL_PLAINTEXT]) {
    const plaintext = bytes(n, 7);
    const sealed = seal(keyObject, plaintext, aad);
    assert.equal(sealed.length, n + SEAL_OVERHEAD);
    assert.deepEqual(open(keyObject, sealed, aad), plaintext);
  }
  assert.deepEqual(open(createSecretKey(key), seal(key, bytes(5), new Uint8Array(0)), new Uint8Array(0)), bytes(5));
  assert.notDeepEqual(seal(key, bytes(5), aad), seal(key, bytes(5), aad)); // fresh nonce each time
});

test('wrong key, wrong AAD and every flipped bit fail closed', () => {
  throwsCode(() => open(bytes(32, 1), VECTOR, aad), 'ENVELOPE_AUTH_FAILED');
  throwsCode(() => open(key, VECTOR, Buffer.from('secret:cam-2')), 'ENVELOPE_AUTH_FAILED');
  for (let i = 0; i < VECTOR.length; i++) {
    const bad = Buffer.from(VECTOR);
    bad[i] = (bad[i] ?? 0) ^ 0x80;
    throwsCode(() => open(key, bad, aad), i === 0 ? 'ENVELOPE_UNSUPPORTED_VERSION' : 'ENVELOPE_AUTH_FAILED');
  }
});

test('size caps and framing are checked before decrypting', () => {
  throwsCode(() => seal(key, new Uint8Array(MAX_SEAL_PLAINTEXT + 1), aad), 'ENVELOPE_LIMIT_EXCEEDED');
  throwsCode(() => open(key, VECTOR.subarray(0, SEAL_OVERHEAD - 1), aad), 'ENVELOPE_MALFORMED');
  throwsCode(() => open(key, new Uint8Array(0), aad), 'ENVELOPE_MALFORMED');
  const huge = Buffer.alloc(SEAL_OVERHEAD + MAX_SEAL_PLAINTEXT + 1);
  huge[0] = 1;
  throwsCode(() => open(key, huge, aad), 'ENVELOPE_LIMIT_EXCEEDED');
  throwsCode(() => seal(bytes(16), bytes(1), aad), 'ENVELOPE_INVALID_KEY');
  throwsCode(() => open(bytes(16), VECTOR, aad), 'ENVELOPE_INVALID_KEY');
});
