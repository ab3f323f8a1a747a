import { SightlineError } from '@sightline/core';

export type ArtifactErrorCode =
  /** No artifact of that name in the project. */
  | 'ARTIFACT_NOT_FOUND'
  /** The name breaks the SRN name rules (or ends in a reserved segment). */
  | 'ARTIFACT_NAME_INVALID'
  /** An artifact of that name exists and `?overwrite=true` was not given. */
  | 'ALREADY_EXISTS'
  /** The upload went past `artifacts.maxObjectBytes`. */
  | 'BODY_TOO_LARGE'
  /** `x-sightline-sha256` is not 64 hex digits. */
  | 'ARTIFACT_SHA256_INVALID'
  /** The bytes received do not have the SHA-256 the client declared. */
  | 'ARTIFACT_DIGEST_MISMATCH'
  /** The client stopped sending before the end of the body. */
  | 'ARTIFACT_UPLOAD_INCOMPLETE'
  /** The row exists but the backend has no object for it (lost or removed outside Sightline). */
  | 'ARTIFACT_DATA_MISSING'
  /** The project does not exist. */
  | 'PROJECT_NOT_FOUND';

export class ArtifactError extends SightlineError<ArtifactErrorCode> {}
