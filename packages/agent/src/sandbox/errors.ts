import { SightlineError } from '@sightline/core';

/**
 * Errors of the app sandbox. Each one means a node was not started (or was
 * stopped): the sandbox fails closed rather than run an app with fewer
 * layers than the appliance reported.
 */
export type SandboxErrorCode =
  /** The node spec is unusable (a bad name, a relative path, a limit out of range). */
  | 'SANDBOX_SPEC_INVALID'
  /** Every uid of the configured range is in use. */
  | 'SANDBOX_UID_EXHAUSTED'
  /** The node's cgroup could not be made, limited or joined. */
  | 'SANDBOX_CGROUP_FAILED'
  /** The storage folder's quota (image, mount) could not be set up. */
  | 'SANDBOX_DISK_QUOTA_FAILED'
  /** The process could not be spawned or placed before it ran. */
  | 'SANDBOX_START_FAILED';

export class SandboxError extends SightlineError<SandboxErrorCode> {}
