import { SightlineError } from '../errors.js';

export type EnvelopeErrorCode =
  /** A key is not a 32-byte AES-256 key. */
  | 'ENVELOPE_INVALID_KEY'
  /** A caller passed a bad option or context (wrong object id length, segment size out of range). */
  | 'ENVELOPE_INVALID_ARGUMENT'
  /** The bytes are not in a format this code writes (bad magic, bad framing, bad lengths). */
  | 'ENVELOPE_MALFORMED'
  /** The format version byte is one this code does not read. */
  | 'ENVELOPE_UNSUPPORTED_VERSION'
  /** A size cap was hit (plaintext too large to seal, segment size over the reader's maximum). */
  | 'ENVELOPE_LIMIT_EXCEEDED'
  /** The GCM tag did not verify: wrong key, wrong context, or tampered bytes. */
  | 'ENVELOPE_AUTH_FAILED'
  /** A wrapped key names a different master key id or version than the caller asked for. */
  | 'ENVELOPE_CONTEXT_MISMATCH'
  /** A stream header names a different object than the caller asked for. */
  | 'ENVELOPE_OBJECT_MISMATCH'
  /** The input ended before the final segment (or before the header). */
  | 'ENVELOPE_TRUNCATED'
  /** Bytes follow the final segment. */
  | 'ENVELOPE_TRAILING_DATA'
  /** The decrypted plaintext does not have the SHA-256 the caller recorded. */
  | 'ENVELOPE_DIGEST_MISMATCH'
  /** `digest()` was called before the stream finished, or on a stream created with `hash: false`. */
  | 'ENVELOPE_DIGEST_UNAVAILABLE';

export class EnvelopeError extends SightlineError<EnvelopeErrorCode> {}
