import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { EnvelopeError } from './errors.js';
import { assertAesKey, type AesKey } from './keys.js';

const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes `seal` adds: version 1 + nonce 12 + tag 16. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;
/** Largest plaintext `seal` takes: a secret or a log batch. Larger objects go through the stream API. */
export const MAX_SEAL_PLAINTEXT = 4 * 1024 * 1024;

/** The version byte is authenticated too, so a blob cannot be re-labelled as another format version. */
function sealAad(aad: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(SEAL_VERSION), aad]);
}

/**
 * Encrypts a small value (a secret, a log batch) under a data key with AES-256-GCM.
 * Format: `0x01 | nonce 12 | ciphertext | tag 16`. `aad` binds the value to where it lives (e.g. the secret's
 * id), so a sealed blob copied to another row fails to open.
 *
 * @example
 * const blob = seal(dataKey, Buffer.from(password), Buffer.from(`secret:${secretId}`));
 */
export function seal(dataKey: AesKey, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  assertAesKey(dataKey, 'data key');
  if (plaintext.length > MAX_SEAL_PLAINTEXT) {
    throw new EnvelopeError('ENVELOPE_LIMIT_EXCEEDED', 'The value is too large to seal; use the stream API.', {
      details: { limit: MAX_SEAL_PLAINTEXT },
    });
  }
  // Random 96-bit nonce (NIST SP 800-38D 8.2.2): safe for up to 2^32 seals per data key.
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
  cipher.setAAD(sealAad(aad));
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([Buffer.of(SEAL_VERSION), nonce, body, cipher.getAuthTag()]);
}

/** Opens a `seal` blob; throws `ENVELOPE_AUTH_FAILED` on a wrong key, wrong `aad` or any changed byte. */
export function open(dataKey: AesKey, sealed: Uint8Array, aad: Uint8Array): Buffer {
  assertAesKey(dataKey, 'data key');
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  // Read from storage: check the framing and the size cap before any work (fail closed).
  if (buf.length < SEAL_OVERHEAD) throw new EnvelopeError('ENVELOPE_MALFORMED', 'The sealed value is too short.');
  if (buf[0] !== SEAL_VERSION) {
    throw new EnvelopeError('ENVELOPE_UNSUPPORTED_VERSION', `Sealed format ${buf[0]} is not supported.`);
  }
  if (buf.length > SEAL_OVERHEAD + MAX_SEAL_PLAINTEXT) {
    throw new EnvelopeError('ENVELOPE_LIMIT_EXCEEDED', 'The sealed value is larger than any seal produces.', {
      details: { limit: MAX_SEAL_PLAINTEXT },
    });
  }
  const decipher = createDecipheriv('aes-256-gcm', dataKey, buf.subarray(1, 1 + NONCE_BYTES));
  decipher.setAAD(sealAad(aad));
  decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
  const plaintext = decipher.update(buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES));
  try {
    decipher.final(); // NIST SP 800-38D 7.2 step 8: no plaintext leaves unless the tag verified
  } catch (cause) {
    plaintext.fill(0);
    throw new EnvelopeError('ENVELOPE_AUTH_FAILED', 'The sealed value did not verify: wrong key, context or data.', {
      cause,
    });
  }
  return plaintext;
}
