import { SightlineError } from '@sightline/core';

export type ReleaseServiceErrorCode =
  /** No root installed yet: run "sightline release keys init" first. */
  | 'TUF_ROOT_MISSING'
  /** A root whose snapshot/timestamp keys are not this control plane's online keys. */
  | 'TUF_ONLINE_KEYS_MISMATCH'
  /** Targets signed over an older targets version than the current one (another publish came first). */
  | 'TARGETS_VERSION_STALE'
  /** A published target changed or vanished: releases are immutable. */
  | 'RELEASE_IMMUTABLE'
  /** A target's bundle was not uploaded (artifact releases/<target> in project default), or differs. */
  | 'RELEASE_BUNDLE_MISSING'
  | 'RELEASE_NOT_FOUND'
  | 'TUF_FILE_NOT_FOUND'
  /** An update to a release whose security version is below the device's anti-rollback floor. */
  | 'UPDATE_BELOW_FLOOR'
  /** The device's agent is older than the release's minimum agent version. */
  | 'UPDATE_AGENT_TOO_OLD'
  /** An update job id that does not exist for this device. */
  | 'UPDATE_JOB_NOT_FOUND';

export class ReleaseServiceError extends SightlineError<ReleaseServiceErrorCode> {}
