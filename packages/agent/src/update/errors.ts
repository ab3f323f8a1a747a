import { SightlineError } from '@sightline/core';

/**
 * Errors of the update path (issue 7): the TUF client, the bundle checks, the
 * slots, the anti-rollback floor and the launcher. Codes are stable: they go
 * into the job's failure message and the launcher's log.
 */
export type UpdateErrorCode =
  /** No trusted TUF root stored (the archive had none and none was installed). */
  | 'UPDATE_NOT_CONFIGURED'
  /** A trusted root that is not a valid, self-signed TUF root. */
  | 'UPDATE_ROOT_INVALID'
  /** TUF 5.3.10, 5.4.4, 5.5.6, 5.6.5: metadata past its expiry (freeze attack). */
  | 'UPDATE_METADATA_EXPIRED'
  /** TUF 5.3.5, 5.4.3.2, 5.5.5: a version lower than one already trusted (rollback attack). */
  | 'UPDATE_METADATA_ROLLBACK'
  /** TUF 5.5.2, 5.6.2: snapshot or targets disagreeing with the role that lists them (mix-and-match). */
  | 'UPDATE_METADATA_MISMATCH'
  /** TUF 5.3.4, 5.4.2, 5.5.3, 5.6.3: signatures below the threshold or by keys the root does not list. */
  | 'UPDATE_SIGNATURE_INVALID'
  /** Metadata that does not parse, or another repository error. */
  | 'UPDATE_METADATA_INVALID'
  /** No target `sightline-agent-<version>.tar` in the signed targets. */
  | 'UPDATE_TARGET_NOT_FOUND'
  /** TUF 5.7.3: a target whose length or hash differs from its metadata. */
  | 'UPDATE_TARGET_MISMATCH'
  /** More bytes than the metadata declares (endless-data attack): the download stopped at the declared length. */
  | 'UPDATE_TARGET_TOO_LONG'
  /** The `sightline` custom fields of the target are missing or malformed. */
  | 'UPDATE_CUSTOM_INVALID'
  /** Seed point 13: a release whose security version is below the anti-rollback floor. */
  | 'UPDATE_BELOW_FLOOR'
  /** The release needs a newer agent to install it first (`minAgentVersion`). */
  | 'UPDATE_AGENT_TOO_OLD'
  /** A bundle that is not a well-formed agent bundle, or whose files differ from its manifest. */
  | 'UPDATE_BUNDLE_INVALID'
  /** A local bundle that is not one of the signed targets the device trusts. */
  | 'UPDATE_BUNDLE_UNKNOWN'
  /** The control plane could not be reached for metadata or the bundle. */
  | 'UPDATE_UNREACHABLE'
  /** Another install holds the slots' lock. */
  | 'UPDATE_BUSY'
  /** The agent does not run under the launcher, so it cannot boot a new slot on trial. */
  | 'UPDATE_NO_LAUNCHER'
  /** The slots' state file or a slot's sealed record is missing or damaged. */
  | 'SLOT_STATE_INVALID'
  /** A slot whose files or metadata do not verify. */
  | 'SLOT_UNVERIFIED'
  /** The launcher found no slot that verifies: it starts nothing. */
  | 'LAUNCH_NO_VERIFIED_SLOT';

export class UpdateError extends SightlineError<UpdateErrorCode> {}
