/**
 * Hard caps on everything the RTSP client reads from a camera (STYLE: size caps
 * on everything read from outside, as tuf-js `config.ts`). A camera is a
 * network peer like any other: a compromised or broken one must not make the
 * agent allocate without bound.
 */
export interface RtspLimits {
  /** Longest status or header line, bytes (CRLF included). */
  readonly maxHeaderLine: number;
  /** Most header lines in one message. */
  readonly maxHeaders: number;
  /** Largest message body (the SDP of DESCRIBE), bytes. */
  readonly maxBody: number;
  /** Largest `$`-interleaved frame accepted, bytes. The wire format allows 65535. */
  readonly maxInterleavedFrame: number;
  /** Largest NAL unit reassembled from FU-A fragments, bytes. */
  readonly maxNal: number;
  /** Largest access unit (one picture's NAL units), bytes. */
  readonly maxAccessUnit: number;
  /** Most NAL units in one access unit. */
  readonly maxNalsPerAccessUnit: number;
  /** Bytes buffered on the socket but not yet parsed. */
  readonly maxBuffered: number;
  /** Milliseconds to open the TCP (and TLS) connection. */
  readonly connectTimeoutMs: number;
  /** Milliseconds to wait for the reply to one request. */
  readonly responseTimeoutMs: number;
  /** Milliseconds without any RTP before the stream counts as stalled. */
  readonly stallTimeoutMs: number;
  /** Session timeout assumed when the camera names none (RFC 2326 12.37: 60 s). */
  readonly defaultSessionTimeoutS: number;
  /** Most requests the client retries after 401 (stale nonce) before giving up. */
  readonly maxAuthRetries: number;
}

export const DEFAULT_RTSP_LIMITS: RtspLimits = Object.freeze({
  maxHeaderLine: 8 * 1024,
  maxHeaders: 64,
  maxBody: 64 * 1024,
  maxInterleavedFrame: 65_535,
  maxNal: 8 * 1024 * 1024,
  maxAccessUnit: 16 * 1024 * 1024,
  maxNalsPerAccessUnit: 1024,
  maxBuffered: 256 * 1024,
  connectTimeoutMs: 10_000,
  responseTimeoutMs: 10_000,
  stallTimeoutMs: 10_000,
  defaultSessionTimeoutS: 60,
  maxAuthRetries: 2,
});
