import { SightlineError } from '@sightline/core';

/**
 * Errors of app deployments on the appliance. The code is what the agent
 * reports in `appStatusReport.code` when a stage fails, so the CLI and the
 * console can switch on it.
 */
export type AppErrorCode =
  // Signed packages (issue 6: verify the signature and every file hash before anything runs).
  | 'PACKAGE_SIGNATURE_INVALID'
  | 'PACKAGE_SIGNER_UNTRUSTED'
  | 'PACKAGE_KEY_INVALID'
  | 'PACKAGE_MANIFEST_INVALID'
  | 'PACKAGE_FILE_INVALID'
  | 'PACKAGE_DESCRIPTOR_INVALID'
  | 'PACKAGE_DOWNLOAD_FAILED'
  // The app graph and its parts.
  | 'APP_GRAPH_INVALID'
  | 'CAMERA_START_FAILED'
  | 'MODEL_START_FAILED'
  | 'NODE_START_FAILED'
  // Stages and the device.
  | 'STAGE_TIMEOUT'
  | 'INTEGRITY_COMPROMISED'
  | 'DEPLOYMENT_CANCELLED'
  | 'APP_FAILED';

export class AppError extends SightlineError<AppErrorCode> {}

/** The stable code of any error, for a status report (`UNEXPECTED` when it has none that fits the API's pattern). */
export function reportCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : 'UNEXPECTED';
}

/** A sentence for a status report: the error's own message, capped, never a stack. */
export function reportMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}
