import { isSightlineError } from '@sightline/core';

/**
 * The one place where error codes become HTTP status codes (STYLE: services
 * throw domain errors; one mapper turns codes into statuses). A code not in
 * the table is a client error (400): services only throw SightlineError for
 * things the caller can fix; anything else is a 500 with no detail.
 */
const STATUS: Readonly<Record<string, number>> = {
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  LOGIN_FAILED: 401,
  MFA_REQUIRED: 401,
  MFA_ENROLLMENT_REQUIRED: 401,
  TOTP_INVALID: 401,
  TOTP_MALFORMED: 401,
  TOTP_REPLAYED: 401,
  ACCOUNT_LOCKED: 423,
  ACCESS_DENIED: 403,
  WRONG_API: 403,
  CSRF_REFUSED: 403,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  USER_NOT_FOUND: 404,
  GROUP_NOT_FOUND: 404,
  POLICY_NOT_FOUND: 404,
  PROJECT_NOT_FOUND: 404,
  APIKEY_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  KEY_DISABLED: 409,
  KEY_PENDING_DELETION: 409,
  KEY_DESTROYED: 410,
  KEY_STATE_INVALID: 409,
  ARTIFACT_NOT_FOUND: 404,
  ARTIFACT_DIGEST_MISMATCH: 422,
  // Stored bytes that fail their checks: the caller cannot fix it, but the code must reach them (a 5xx hides it).
  ARTIFACT_DATA_MISSING: 409,
  ENVELOPE_AUTH_FAILED: 409,
  ENVELOPE_MALFORMED: 409,
  ENVELOPE_TRUNCATED: 409,
  ENVELOPE_TRAILING_DATA: 409,
  ENVELOPE_OBJECT_MISMATCH: 409,
  ENVELOPE_DIGEST_MISMATCH: 409,
  ENVELOPE_LIMIT_EXCEEDED: 409,
  ENVELOPE_UNSUPPORTED_VERSION: 409,
  DATA_KEY_INVALID: 409,
  CERT_REQUIRED: 401,
  CERT_UNTRUSTED: 401,
  CERT_EXPIRED: 401,
  CERT_REVOKED: 401,
  PROVISIONING_CERT_EXPIRED: 401,
  PROVISIONING_CERT_USED: 409,
  CERT_WRONG_KIND: 403,
  DEVICE_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  DEVICE_NOT_REGISTERED: 409,
  GRANT_NOT_FOUND: 404,
  POLICY_IN_USE: 409,
  LAST_ADMIN: 409,
  // A live verification that finds the log altered: the state is wrong, not the request.
  AUDIT_EVENT_MISMATCH: 409,
  AUDIT_CHECKPOINT_MISMATCH: 409,
  AUDIT_CHECKPOINT_INVALID: 409,
  AUDIT_ORDER_INVALID: 409,
  AUDIT_UNSIGNED_EVENTS: 409,
  AUDIT_BASE_MISMATCH: 409,
  AUDIT_BASE_INVALID: 409,
  AUDIT_BASE_UNRECORDED: 409,
  INTERNAL: 500,
  STORAGE_UNAVAILABLE: 503,
  AUDIT_UNAVAILABLE: 503,
  AUDIT_EVENT_NOT_FOUND: 404,
  SECRET_NOT_FOUND: 404,
  SECRET_VALUE_TOO_LARGE: 413,
  MFA_REQUIRED_FOR_SECRET: 403,
  SECRET_NOT_BOUND_TO_DEVICE: 403,
  SECRET_INTEGRITY_FAILED: 409,
  LOG_GROUP_NOT_FOUND: 404,
  LOG_STREAM_NOT_FOUND: 404,
  LOG_BATCH_TOO_LARGE: 413,
  LOG_BATCH_TOO_MANY_EVENTS: 413,
  LOG_LINE_TOO_LONG: 413,
  LOG_CHUNK_INTEGRITY_FAILED: 409,
  CAMERA_NOT_FOUND: 404,
  CAMERA_IN_USE: 409,
  // Signed updates (issue 7).
  TUF_ROOT_MISSING: 409,
  TUF_ONLINE_KEYS_MISMATCH: 409,
  TARGETS_VERSION_STALE: 409,
  RELEASE_IMMUTABLE: 409,
  RELEASE_BUNDLE_MISSING: 409,
  RELEASE_NOT_FOUND: 404,
  TUF_FILE_NOT_FOUND: 404,
  UPDATE_BELOW_FLOOR: 409,
  UPDATE_AGENT_TOO_OLD: 409,
  UPDATE_JOB_NOT_FOUND: 404,
  METADATA_EXPIRED: 409,
  PACKAGE_NOT_FOUND: 404,
  PACKAGE_VERSION_EXISTS: 409,
  PACKAGE_KIND_MISMATCH: 409,
  PACKAGE_BLOB_MISMATCH: 422,
  SIGNING_KEY_NOT_FOUND: 404,
  SIGNING_KEY_IN_USE: 409,
  APP_NOT_FOUND: 404,
  APP_NOT_ACTIVE: 409,
  BLOB_NOT_FOUND: 404,
  // Output preview (issue 8). A timeout is the device's state, not the server's fault (a 5xx would hide the code).
  OUTPUT_PREVIEW_DISABLED: 403,
  OUTPUT_NOT_FOUND: 404,
  PREVIEW_LIMIT_REACHED: 429,
  PREVIEW_TIMEOUT: 409,
  PREVIEW_NOT_FOUND: 404,
  PREVIEW_FRAME_TOO_LARGE: 413,
  PREVIEW_STREAM_INVALID: 400,
};

export interface MappedError {
  status: number;
  body: { error: { code: string; message: string; details?: Record<string, unknown> } };
}

export function mapError(err: unknown, requestId: string): MappedError {
  if (isSightlineError(err)) {
    const status = STATUS[err.code] ?? 400;
    if (status < 500) {
      return {
        status,
        body: { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: { ...err.details } }) } },
      };
    }
  }
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: `The server failed on this request; quote request id ${requestId} to an administrator.` } },
  };
}
