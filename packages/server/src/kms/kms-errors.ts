import { SightlineError } from '@sightline/core';

export type KmsErrorCode =
  | 'KEY_NOT_FOUND'
  | 'KEY_DISABLED'
  | 'KEY_PENDING_DELETION'
  | 'KEY_DESTROYED'
  | 'KEY_STATE_INVALID'
  | 'KEY_DELETION_WINDOW_INVALID'
  | 'KEY_WRONG_PROJECT'
  | 'KEY_RESERVED_NAME'
  | 'DATA_KEY_INVALID'
  | 'ALREADY_EXISTS';
export class KmsError extends SightlineError<KmsErrorCode> {}
