import { SightlineError } from '@sightline/core';
import { deviceApi } from '@sightline/protocol';

/**
 * Every error the agent raises on purpose. Codes are stable: the CLI prints
 * them, scripts and the control plane switch on them.
 */
export type AgentErrorCode =
  // The configuration archive and its passphrase.
  | 'ARCHIVE_NOT_FOUND'
  | 'ARCHIVE_TOO_LARGE'
  | 'ARCHIVE_PASSPHRASE_WRONG'
  | 'ARCHIVE_CORRUPT'
  | 'ARCHIVE_INVALID'
  | 'PASSPHRASE_MISSING'
  // Local registration state.
  | 'ALREADY_REGISTERED'
  | 'NOT_REGISTERED'
  | 'AGENT_RUNNING'
  | 'DEVICE_REFUSED'
  // Talking to the control plane.
  | 'SERVER_PIN_MISMATCH'
  | 'SERVER_UNTRUSTED'
  | 'CONTROL_PLANE_UNREACHABLE'
  | 'CONTROL_PLANE_TIMEOUT'
  | 'CONTROL_PLANE_ERROR'
  | 'RESPONSE_TOO_LARGE'
  | 'RESPONSE_INVALID'
  | 'ABORTED'
  // Local storage and keys.
  | 'STORE_CORRUPT'
  | 'ROOT_KEY_MISSING'
  | 'ROOT_KEY_INVALID'
  | 'TPM_UNAVAILABLE'
  | 'TPM_FAILED'
  // Software integrity.
  | 'INTEGRITY_MANIFEST_INVALID'
  | 'INTEGRITY_SIGNATURE_INVALID'
  // Configuration and usage.
  | 'CONFIG_INVALID'
  | 'USAGE';

export class AgentError extends SightlineError<AgentErrorCode> {}

/**
 * Codes the control plane answers with (`{error:{code,message}}`, 4xx) that the
 * agent acts on. Anything else arrives as REQUEST_REFUSED with the server's
 * code in `details.serverCode`.
 */
export type RemoteErrorCode = deviceApi.DeviceRefusalCode | 'REQUEST_REFUSED';

const REMOTE_CODES: ReadonlySet<string> = new Set<RemoteErrorCode>(deviceApi.DEVICE_REFUSAL_CODES);

/** What to tell a person for each refusal; the server's own sentence follows it. */
const NEXT_STEP: Record<RemoteErrorCode, string> = {
  PROVISIONING_CERT_USED:
    'This configuration archive was already used; provision the device again (sightline device provision) and register with the new archive.',
  PROVISIONING_CERT_EXPIRED:
    'The configuration archive expired before it was used; provision the device again and register within its validity.',
  CSR_INVALID: 'The control plane rejected the certificate request; this is a bug in the agent or the server.',
  CSR_NAME_MISMATCH: 'The certificate request named another device than the archive was made for.',
  CERT_REQUIRED: 'The control plane did not receive a client certificate.',
  CERT_UNTRUSTED:
    "The control plane does not trust this device's certificate (issued by another CA); run sightline-agent reset --full and provision the device again.",
  CERT_REVOKED: "This device's certificate was revoked (deregistered); run sightline-agent reset --full and provision the device again.",
  CERT_EXPIRED:
    "This device's certificate expired before it could be renewed; run sightline-agent reset --full and provision the device again.",
  CERT_WRONG_KIND: 'The certificate presented is not valid for this call.',
  DEVICE_DEREGISTERED: 'This device was deregistered; run sightline-agent reset --full and provision the device again.',
  DEVICE_NOT_REGISTERED: 'The control plane has no registration for this device; run sightline-agent reset --full and provision it again.',
  JOB_NOT_FOUND: 'The control plane no longer knows this job.',
  REQUEST_REFUSED: 'The control plane refused the request.',
};

/** A refusal from the control plane: an HTTP 4xx with the server's error code. */
export class ControlPlaneError extends SightlineError<RemoteErrorCode> {
  readonly status: number;
  constructor(status: number, serverCode: string, serverMessage: string) {
    const code: RemoteErrorCode = REMOTE_CODES.has(serverCode) ? (serverCode as RemoteErrorCode) : 'REQUEST_REFUSED';
    super(code, `${NEXT_STEP[code]} (server: ${serverCode}: ${serverMessage.slice(0, 300)})`, { details: { status, serverCode } });
    this.status = status;
  }
}

/**
 * Refusals that mean this device's identity is gone: the agent stops, records
 * why, and will not start again until `reset --full` (issue 5: deregister
 * leaves the device needing a full reset). Only these explicit codes count; a
 * bare 401/403 without one could be a proxy and is treated as transient.
 */
export const IDENTITY_REFUSED: ReadonlySet<RemoteErrorCode> = new Set<RemoteErrorCode>([
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_EXPIRED',
  'DEVICE_DEREGISTERED',
  'DEVICE_NOT_REGISTERED',
]);

export function isIdentityRefused(err: unknown): err is ControlPlaneError {
  return err instanceof ControlPlaneError && IDENTITY_REFUSED.has(err.code);
}

/** Faults worth retrying with backoff: the network, timeouts, 5xx, a wrong server (it may be an attack that ends). */
export function isTransient(err: unknown): boolean {
  if (err instanceof AgentError) {
    return (
      err.code === 'CONTROL_PLANE_UNREACHABLE' ||
      err.code === 'CONTROL_PLANE_TIMEOUT' ||
      err.code === 'CONTROL_PLANE_ERROR' ||
      err.code === 'RESPONSE_INVALID' ||
      err.code === 'RESPONSE_TOO_LARGE' ||
      err.code === 'SERVER_PIN_MISMATCH' ||
      err.code === 'SERVER_UNTRUSTED'
    );
  }
  return err instanceof ControlPlaneError && !IDENTITY_REFUSED.has(err.code);
}
