import { SightlineError } from '@sightline/core';

export type HttpErrorCode =
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'BODY_TOO_LARGE'
  | 'BODY_NOT_JSON'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'VALIDATION_FAILED'
  | 'INTERNAL';

/** Errors raised by the transport itself (routing, body parsing, schemas). */
export class HttpError extends SightlineError<HttpErrorCode> {}
