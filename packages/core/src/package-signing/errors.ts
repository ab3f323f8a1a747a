import { SightlineError } from '../errors.js';

export type PackageSigningErrorCode =
  /** The signature does not verify over the manifest bytes: altered or forged. */
  | 'PACKAGE_SIGNATURE_INVALID'
  /** Signed correctly, but by a key the project does not list as trusted. */
  | 'PACKAGE_SIGNER_UNTRUSTED'
  /** A key or signature that cannot be used (wrong length, wrong algorithm, bad encoding). */
  | 'PACKAGE_KEY_INVALID';

export class PackageSigningError extends SightlineError<PackageSigningErrorCode> {}
