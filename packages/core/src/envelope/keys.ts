import { KeyObject, createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { EnvelopeError } from './errors.js';

/** An AES-256 key: a secret `KeyObject` of 32 bytes, or the 32 raw bytes. */
export type AesKey = KeyObject | Uint8Array;

/** What a wrapped data key is bound to; all three go into the GCM associated data. */
export interface WrapContext {
  /** Master key id, 1..255 UTF-8 bytes (e.g. `project/1234/artifacts`). */
  readonly keyId: string;
  /** Master key version, an integer 1..2^32-1; rotation adds a version. */
  readonly keyVersion: number;
  /** What the data key protects, 1..255 UTF-8 bytes (e.g. `artifact`, `secret`, `log`). */
  readonly purpose: string;
}

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const WRAP_VERSION = 1;

/** Throws unless `key` is usable as an AES-256 key. */
export function assertAesKey(key: AesKey, what: string): void {
  const ok =
    key instanceof KeyObject
      ? key.type === 'secret' && key.symmetricKeySize === KEY_BYTES
      : key instanceof Uint8Array && key.length === KEY_BYTES;
  if (!ok) throw new EnvelopeError('ENVELOPE_INVALID_KEY', `The ${what} must be a 32-byte AES-256 key.`);
}

/** A fresh random AES-256 data key. Keep it in memory only; store its `wrapKey` form. */
export function generateDataKey(): KeyObject {
  const raw = randomBytes(KEY_BYTES);
  const key = createSecretKey(raw); // copies, so the bytes can be wiped
  raw.fill(0);
  return key;
}

function utf8Field(value: string, name: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < 1 || bytes.length > 255) {
    throw new EnvelopeError('ENVELOPE_INVALID_ARGUMENT', `The wrap context's ${name} must be 1..255 UTF-8 bytes.`, {
      details: { field: name },
    });
  }
  return bytes;
}

/** version u8 | keyId length u8 | keyId | keyVersion u32 BE: the prefix of the encoding, and of the AAD. */
function encodePrefix(context: WrapContext): Buffer {
  const id = utf8Field(context.keyId, 'keyId');
  const v = context.keyVersion;
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) {
    throw new EnvelopeError('ENVELOPE_INVALID_ARGUMENT', 'The wrap context keyVersion must be an integer 1..2^32-1.', {
      details: { field: 'keyVersion' },
    });
  }
  const prefix = Buffer.allocUnsafe(2 + id.length + 4);
  prefix[0] = WRAP_VERSION;
  prefix[1] = id.length;
  id.copy(prefix, 2);
  prefix.writeUInt32BE(v, 2 + id.length);
  return prefix;
}

/** The AAD is the encoded prefix plus the length-prefixed purpose, so no field can bleed into another. */
function wrapAad(prefix: Buffer, purpose: string): Buffer {
  const p = utf8Field(purpose, 'purpose');
  return Buffer.concat([prefix, Buffer.of(p.length), p]);
}

/**
 * Wraps a data key under a master key with AES-256-GCM.
 *
 * Encoding (version 1): `0x01 | idLen u8 | keyId | keyVersion u32 BE | nonce 12 | wrapped key 32 | tag 16`.
 * The master key id, version and purpose are authenticated, so a wrapped key unwraps only in the context it
 * was made for.
 *
 * @example
 * const dataKey = generateDataKey();
 * const stored = wrapKey(master, dataKey, { keyId: 'project/7/artifacts', keyVersion: 3, purpose: 'artifact' });
 */
export function wrapKey(masterKey: AesKey, dataKey: AesKey, context: WrapContext): Buffer {
  assertAesKey(masterKey, 'master key');
  assertAesKey(dataKey, 'data key');
  const prefix = encodePrefix(context);
  const nonce = randomBytes(NONCE_BYTES); // random 96-bit nonce: NIST SP 800-38D 8.2.2
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce);
  cipher.setAAD(wrapAad(prefix, context.purpose));
  const raw = dataKey instanceof KeyObject ? dataKey.export() : dataKey;
  try {
    const wrapped = Buffer.concat([cipher.update(raw), cipher.final()]);
    return Buffer.concat([prefix, nonce, wrapped, cipher.getAuthTag()]);
  } finally {
    if (raw !== dataKey) raw.fill(0); // our exported copy only; never wipe the caller's bytes
  }
}

/** The master key id and version a wrapped key names, so a KMS can fetch that version before unwrapping. */
export function parseWrappedKey(wrapped: Uint8Array): { keyId: string; keyVersion: number } {
  const buf = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  // Read from storage: check every length before use (fail closed).
  if (buf.length < 2) throw new EnvelopeError('ENVELOPE_MALFORMED', 'The wrapped key is too short.');
  if (buf[0] !== WRAP_VERSION) {
    throw new EnvelopeError('ENVELOPE_UNSUPPORTED_VERSION', `Wrapped key format ${buf[0]} is not supported.`);
  }
  const idLen = buf[1] ?? 0;
  if (idLen < 1 || buf.length !== 2 + idLen + 4 + NONCE_BYTES + KEY_BYTES + TAG_BYTES) {
    throw new EnvelopeError('ENVELOPE_MALFORMED', 'The wrapped key has the wrong length.');
  }
  return { keyId: buf.toString('utf8', 2, 2 + idLen), keyVersion: buf.readUInt32BE(2 + idLen) };
}

/**
 * Unwraps a key made by `wrapKey`. Throws `ENVELOPE_CONTEXT_MISMATCH` if it names another master key id or
 * version, `ENVELOPE_AUTH_FAILED` if the master key, purpose or bytes are wrong.
 */
export function unwrapKey(masterKey: AesKey, wrapped: Uint8Array, context: WrapContext): KeyObject {
  assertAesKey(masterKey, 'master key');
  const named = parseWrappedKey(wrapped);
  // Refuse before decrypting when the stored key id/version differ from the context asked for (the AAD would
  // also reject it, but this error tells the caller which key to fetch).
  if (named.keyId !== context.keyId || named.keyVersion !== context.keyVersion) {
    throw new EnvelopeError('ENVELOPE_CONTEXT_MISMATCH', 'The wrapped key belongs to another master key or version.', {
      details: { keyId: named.keyId, keyVersion: named.keyVersion },
    });
  }
  const buf = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  const prefix = encodePrefix(context);
  const at = prefix.length;
  const decipher = createDecipheriv('aes-256-gcm', masterKey, buf.subarray(at, at + NONCE_BYTES));
  decipher.setAAD(wrapAad(prefix, context.purpose));
  decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
  const out = decipher.update(buf.subarray(at + NONCE_BYTES, buf.length - TAG_BYTES));
  try {
    decipher.final(); // verifies the tag: NIST SP 800-38D 7.2, step 8 (release nothing on failure)
    return createSecretKey(out);
  } catch (cause) {
    throw new EnvelopeError('ENVELOPE_AUTH_FAILED', 'The wrapped key did not verify: wrong master key or context.', {
      cause,
    });
  } finally {
    out.fill(0);
  }
}
