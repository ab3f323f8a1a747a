import { SightlineError } from '@sightline/core';

export type CameraErrorCode =
  | 'CAMERA_NOT_FOUND'
  | 'ALREADY_EXISTS'
  /** A user name without a password or the other way round: credentials are both or neither. */
  | 'CAMERA_CREDENTIALS_INCOMPLETE'
  /** tlsCaPem is not one or more PEM certificates, holds a private key, or names a CA for a non-rtsps camera. */
  | 'CAMERA_TLS_CA_INVALID'
  /** A device is bound to the camera (an app deployed on it uses it): remove the app first. */
  | 'CAMERA_IN_USE'
  /** The device named for a binding is not in the camera's project. */
  | 'DEVICE_NOT_FOUND';
export class CameraError extends SightlineError<CameraErrorCode> {}
