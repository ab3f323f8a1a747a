import { SightlineError } from '@sightline/core';

export type PackageErrorCode =
  | 'PACKAGE_NOT_FOUND'
  /** Versions are immutable: the same name and version again is refused. */
  | 'PACKAGE_VERSION_EXISTS'
  /** The manifest is not base64 JSON of the package manifest schema, or its descriptor does not fit its kind. */
  | 'PACKAGE_MANIFEST_INVALID'
  /** A name already holds packages of the other kind. */
  | 'PACKAGE_KIND_MISMATCH'
  /** A file's blob was not uploaded (artifact packages/blobs/<sha256>). */
  | 'PACKAGE_BLOB_MISSING'
  /** A blob's stored length or SHA-256 differs from the manifest's. */
  | 'PACKAGE_BLOB_MISMATCH'
  | 'SIGNING_KEY_NOT_FOUND'
  /** The package policy lists this key: change the policy first. */
  | 'SIGNING_KEY_IN_USE'
  | 'ALREADY_EXISTS';
export class PackageError extends SightlineError<PackageErrorCode> {}
