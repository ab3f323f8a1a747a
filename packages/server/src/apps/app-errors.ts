import { SightlineError } from '@sightline/core';

export type AppErrorCode =
  | 'APP_NOT_FOUND'
  /** `replace` names an instance that is on another device, or already ended. */
  | 'APP_REPLACE_INVALID'
  /** The instance has ended (failed, rolled back, stopped): it cannot be paused or resumed. */
  | 'APP_NOT_ACTIVE'
  | 'CAMERA_NOT_FOUND'
  | 'DEVICE_NOT_FOUND'
  /** A device asked for a blob no package of its instances holds. */
  | 'BLOB_NOT_FOUND';
export class AppError extends SightlineError<AppErrorCode> {}
