import { SightlineError } from '@sightline/core';

/**
 * Codes an app can switch on. Stable: they cross the app ⇄ agent channel, so
 * an error raised by the agent (say `MODEL_BUSY`) reaches the app with the same
 * code.
 *
 * @example
 * ```ts
 * function retryable(code: SdkErrorCode): boolean {
 *   return code === 'MODEL_BUSY' || code === 'MODEL_TIMEOUT';
 * }
 * ```
 */
export type SdkErrorCode =
  // The app's own definition.
  | 'DESCRIPTOR_INVALID'
  | 'PARAMETER_INVALID'
  // Names the descriptor does not declare.
  | 'UNKNOWN_INPUT'
  | 'UNKNOWN_OUTPUT'
  | 'UNKNOWN_MODEL'
  // Frames and tensors.
  | 'FRAME_INVALID'
  | 'MODEL_INPUT_INVALID'
  | 'MODEL_BUSY'
  | 'MODEL_FAILED'
  | 'MODEL_TIMEOUT'
  | 'MODEL_UNAVAILABLE'
  // Storage, metrics, logs.
  | 'STORAGE_KEY_INVALID'
  | 'STORAGE_VALUE_TOO_LARGE'
  | 'STORAGE_QUOTA_EXCEEDED'
  | 'STORAGE_FAILED'
  | 'METRIC_NAME_INVALID'
  // The channel to the agent.
  | 'CHANNEL_CLOSED'
  | 'CHANNEL_TIMEOUT'
  | 'PROTOCOL_ERROR'
  | 'STOPPED';

/**
 * Every error the SDK raises on purpose.
 *
 * @example
 * ```ts
 * try {
 *   outputs = await ctx.models.face.run(tensor);
 * } catch (e) {
 *   if (e instanceof SdkError && e.code === 'MODEL_BUSY') continue; // drop this frame
 *   throw e;
 * }
 * ```
 */
export class SdkError extends SightlineError<SdkErrorCode> {}

const CODES: ReadonlySet<string> = new Set<SdkErrorCode>([
  'DESCRIPTOR_INVALID',
  'PARAMETER_INVALID',
  'UNKNOWN_INPUT',
  'UNKNOWN_OUTPUT',
  'UNKNOWN_MODEL',
  'FRAME_INVALID',
  'MODEL_INPUT_INVALID',
  'MODEL_BUSY',
  'MODEL_FAILED',
  'MODEL_TIMEOUT',
  'MODEL_UNAVAILABLE',
  'STORAGE_KEY_INVALID',
  'STORAGE_VALUE_TOO_LARGE',
  'STORAGE_QUOTA_EXCEEDED',
  'STORAGE_FAILED',
  'METRIC_NAME_INVALID',
  'CHANNEL_CLOSED',
  'CHANNEL_TIMEOUT',
  'PROTOCOL_ERROR',
  'STOPPED',
]);

/**
 * True when `code` is one the SDK knows; other codes from the wire become PROTOCOL_ERROR.
 *
 * @example
 * ```ts
 * isSdkErrorCode('MODEL_BUSY'); // true
 * isSdkErrorCode('NOPE'); // false
 * ```
 */
export function isSdkErrorCode(code: string): code is SdkErrorCode {
  return CODES.has(code);
}
