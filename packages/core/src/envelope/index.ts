/**
 * Envelope encryption for the KMS, artifact store, secrets store and log store (DESIGN "Protocols and formats"):
 * data keys wrapped by a versioned master key (`wrapKey`), small values sealed under a data key (`seal`), large
 * objects streamed in authenticated segments (`createEncryptStream` / `createDecryptStream`).
 */
export { EnvelopeError, type EnvelopeErrorCode } from './errors.js';
export { KEY_BYTES, generateDataKey, parseWrappedKey, unwrapKey, wrapKey, type AesKey, type WrapContext } from './keys.js';
export { MAX_SEAL_PLAINTEXT, SEAL_OVERHEAD, open, seal } from './seal.js';
export {
  DEFAULT_SEGMENT_SIZE,
  DecryptStream,
  EncryptStream,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  STREAM_HEADER_BYTES,
  ciphertextLength,
  createDecryptStream,
  createEncryptStream,
  type DecryptStreamOptions,
  type EncryptStreamOptions,
} from './stream.js';
