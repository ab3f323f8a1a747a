import { SightlineError } from '@sightline/core';

/**
 * Errors of the model runtime. The codes an app can see (`MODEL_BUSY`,
 * `MODEL_FAILED`, `MODEL_INPUT_INVALID`, `MODEL_TIMEOUT`, `MODEL_UNAVAILABLE`)
 * are the SDK's codes too: AppEndpoint passes them through unchanged.
 */
export type VisionErrorCode =
  | 'MODEL_PACKAGE_INVALID'
  | 'MODEL_HASH_MISMATCH'
  | 'MODEL_LOAD_FAILED'
  | 'MODEL_INPUT_INVALID'
  | 'MODEL_BUSY'
  | 'MODEL_FAILED'
  | 'MODEL_TIMEOUT'
  | 'MODEL_UNAVAILABLE';

export class VisionError extends SightlineError<VisionErrorCode> {}
