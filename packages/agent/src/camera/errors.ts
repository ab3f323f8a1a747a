import { SightlineError } from '@sightline/core';

/**
 * Codes for everything camera ingest refuses or fails at. Stable: the agent
 * reports them in camera status, the CLI and console show them. Messages say
 * what to do next and never carry a URL's credentials, a password, a nonce or
 * a response digest.
 */
export type CameraErrorCode =
  /** The camera refused the credentials (or asked for some and none were given). */
  | 'RTSP_AUTH_FAILED'
  /** The camera only offers Basic authentication over plain rtsp:// (the password would cross the network readable). */
  | 'RTSP_AUTH_INSECURE'
  /** The camera's reply broke RFC 2326 / RFC 4566 / RFC 6184 or a size cap. */
  | 'RTSP_PROTOCOL_ERROR'
  /** The camera answered a request with an error status (404 for a wrong path, 454, 5xx). */
  | 'RTSP_REQUEST_REFUSED'
  /** The stream has no H.264 video track, or uses a packetization this client does not read. */
  | 'RTSP_UNSUPPORTED_MEDIA'
  /** The rtsps:// certificate did not verify against the CA given (or the system store), or names another host. */
  | 'RTSP_TLS_VERIFY_FAILED'
  /** The TLS handshake failed for another reason (protocol version, no common cipher). */
  | 'RTSP_TLS_FAILED'
  /** No TCP connection (refused, unreachable, DNS) or no reply in time. */
  | 'CAMERA_UNREACHABLE'
  /** Connected, but no video arrived for longer than the stall timeout, or the camera closed the stream. */
  | 'CAMERA_STREAM_STALLED'
  /** The source URL or its options are not usable (scheme, credentials in the URL, size). */
  | 'CAMERA_SOURCE_INVALID'
  /** The ffmpeg binary is missing or could not start. */
  | 'FFMPEG_UNAVAILABLE'
  /** ffmpeg exited or could not decode the stream. */
  | 'DECODER_FAILED';

export class CameraError extends SightlineError<CameraErrorCode> {}

/** Errors that will not go away by retrying: the operator must fix something (and ingest says `failed`). */
const PERMANENT: ReadonlySet<CameraErrorCode> = new Set<CameraErrorCode>([
  // A wrong password retried in a loop locks accounts on many cameras.
  'RTSP_AUTH_FAILED',
  'RTSP_AUTH_INSECURE',
  'RTSP_TLS_VERIFY_FAILED',
  'RTSP_UNSUPPORTED_MEDIA',
  'CAMERA_SOURCE_INVALID',
  'FFMPEG_UNAVAILABLE',
]);

export function isPermanentCameraError(err: unknown): boolean {
  return err instanceof CameraError && PERMANENT.has(err.code);
}
