import { SightlineError } from '../errors.js';

export type ReleaseErrorCode =
  /** A bundle that is not a well-formed Sightline agent bundle (ustar + manifest.json). */
  | 'BUNDLE_INVALID'
  /** A file in a bundle whose size or SHA-256 differs from manifest.json. */
  | 'BUNDLE_HASH_MISMATCH'
  /** A key file that cannot be read: wrong passphrase, wrong algorithm or damaged. */
  | 'RELEASE_KEY_INVALID'
  /** TUF metadata that does not parse or is not of the expected role. */
  | 'METADATA_INVALID'
  /** Fewer valid signatures than the role's threshold (TUF 5.3.4, 5.4.2, 5.5.3, 5.6.3). */
  | 'METADATA_THRESHOLD'
  /** A signature by a key the trusted root does not list for the role. */
  | 'METADATA_UNKNOWN_SIGNER'
  /** Metadata whose expiry has passed (TUF 5.3.10 and following: freeze attack). */
  | 'METADATA_EXPIRED'
  /** A version that is not the next one (TUF 5.3.5 rollback, or a gap). */
  | 'METADATA_VERSION'
  /** Custom `sightline` fields of a target that are missing or malformed. */
  | 'TARGET_CUSTOM_INVALID';

export class ReleaseError extends SightlineError<ReleaseErrorCode> {}
