import { SightlineError } from '../errors.js';

export type CheckpointErrorCode =
  /** Not a well-formed signed note or checkpoint, or over a size cap. */
  | 'CHECKPOINT_MALFORMED'
  /** A signature by a known key does not verify: the note was altered or forged. */
  | 'CHECKPOINT_SIGNATURE_INVALID'
  /** No signature is by a key the caller trusts. */
  | 'CHECKPOINT_UNKNOWN_KEY'
  /** Signed, but for another log than the one expected. */
  | 'CHECKPOINT_ORIGIN_MISMATCH'
  /** A key, key name or key encoding that cannot be used. */
  | 'CHECKPOINT_KEY_INVALID';

export class CheckpointError extends SightlineError<CheckpointErrorCode> {}
