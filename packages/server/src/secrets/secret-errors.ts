import { SightlineError } from '@sightline/core';

export type SecretErrorCode =
  | 'SECRET_NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'SECRET_VALUE_TOO_LARGE'
  | 'SECRET_VALUE_INVALID'
  | 'SECRET_KEY_INVALID'
  /** A person without MFA in this session, or an API key, asked for a value. */
  | 'MFA_REQUIRED_FOR_SECRET'
  /** A device asked through the people's API, or a person through the device path. */
  | 'WRONG_API'
  /** A device asked for a secret no app deployed on it is bound to. */
  | 'SECRET_NOT_BOUND_TO_DEVICE'
  /** The stored value failed its integrity check (tampered or corrupted row): nothing was decrypted. */
  | 'SECRET_INTEGRITY_FAILED';
export class SecretError extends SightlineError<SecretErrorCode> {}
