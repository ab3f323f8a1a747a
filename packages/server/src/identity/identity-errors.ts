import { SightlineError } from '@sightline/core';

export type IdentityErrorCode =
  | 'LOGIN_FAILED'
  | 'MFA_REQUIRED'
  | 'TOTP_INVALID'
  | 'TOTP_REPLAYED'
  | 'ACCOUNT_LOCKED'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'USER_NOT_FOUND'
  | 'GROUP_NOT_FOUND'
  | 'APIKEY_NOT_FOUND'
  | 'APIKEY_EXPIRY_INVALID';

export class IdentityError extends SightlineError<IdentityErrorCode> {}
