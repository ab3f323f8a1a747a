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
  INTERNAL: 500,
  STORAGE_UNAVAILABLE: 503,
  AUDIT_UNAVAILABLE: 503,
  AUDIT_EVENT_NOT_FOUND: 404,
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
