import { SightlineError } from '@sightline/core';

export type LogErrorCode =
  | 'LOG_GROUP_NOT_FOUND'
  | 'LOG_STREAM_NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'LOG_KEY_INVALID'
  | 'LOG_STREAM_NAME_INVALID'
  | 'LOG_BATCH_EMPTY'
  | 'LOG_BATCH_TOO_LARGE'
  | 'LOG_BATCH_TOO_MANY_EVENTS'
  | 'LOG_LINE_TOO_LONG'
  | 'LOG_EVENT_INVALID'
  | 'LOG_FIELDS_INVALID'
  | 'LOG_EVENT_TIME_INVALID'
  | 'LOG_EVENT_TIME_OUT_OF_RANGE'
  | 'LOG_QUERY_INVALID'
  | 'LOG_CURSOR_INVALID'
  /** A stored chunk failed its integrity check (tampered or corrupted row): nothing from it was returned. */
  | 'LOG_CHUNK_INTEGRITY_FAILED';
export class LogError extends SightlineError<LogErrorCode> {}
