import { CameraError } from '../errors.js';
import type { RtspLimits } from './limits.js';

/** Header fields with case-insensitive names; a name may repeat (WWW-Authenticate). */
export class RtspHeaders {
  private readonly fields = new Map<string, string[]>();

  add(name: string, value: string): void {
    const key = name.toLowerCase();
    const list = this.fields.get(key);
    if (list === undefined) this.fields.set(key, [value]);
    else list.push(value);
  }

  get(name: string): string | undefined {
    return this.fields.get(name.toLowerCase())?.[0];
  }

  all(name: string): readonly string[] {
    return this.fields.get(name.toLowerCase()) ?? [];
  }
}

export interface RtspResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: RtspHeaders;
  readonly body: Buffer;
}

/** A request the server sends to the client (RFC 2326 allows ANNOUNCE, GET_PARAMETER, ...). */
export interface RtspRequest {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
  readonly headers: RtspHeaders;
  readonly body: Buffer;
}

export type RtspMessage = RtspResponse | RtspRequest;

export interface RtspReaderSink {
  message(message: RtspMessage): void;
  /** RFC 2326 10.12: `$`, channel, 16-bit length, data. `payload` is a view into the read buffer (never written to). */
  interleaved(channel: number, payload: Buffer): void;
}

const STATUS_LINE = /^RTSP\/1\.\d (\d{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;
const REQUEST_LINE = /^([A-Z][A-Z_-]{0,31}) (\S{1,4096}) RTSP\/1\.\d$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const DOLLAR = 0x24;
const LF = 0x0a;

function protocolError(message: string, details?: Record<string, unknown>): CameraError {
  return new CameraError(
    'RTSP_PROTOCOL_ERROR',
    `The camera sent a malformed RTSP reply: ${message}. Check that the URL points at an RTSP camera.`,
    details === undefined ? undefined : { details },
  );
}

interface HeadState {
  startLine: string | undefined;
  headers: RtspHeaders;
  count: number;
  /** Offset in `buf` where the next line starts. */
  offset: number;
  /** Body length once the head is complete. */
  bodyLength: number | undefined;
}

/**
 * Splits the byte stream from a camera into RTSP messages and interleaved
 * frames. Every length it reads is checked against `limits` before anything
 * is allocated for it; a violation throws RTSP_PROTOCOL_ERROR and the
 * connection must be dropped (the reader is then unusable).
 */
export class RtspReader {
  private buf: Buffer = Buffer.alloc(0);
  private head: HeadState | undefined;

  constructor(
    private readonly limits: RtspLimits,
    private readonly sink: RtspReaderSink,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    try {
      for (;;) {
        const used = this.step(pos);
        if (used === 0) break;
        pos += used;
      }
    } finally {
      // A partial message stays at index 0: its head offsets are relative to its start.
      this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
    }
    if (this.buf.length > this.limits.maxBuffered) {
      throw protocolError(`more than ${this.limits.maxBuffered} bytes without a complete message`);
    }
  }

  /** Parses one unit at `pos`; returns the bytes it consumed, 0 when more input is needed. */
  private step(pos: number): number {
    const avail = this.buf.length - pos;
    if (avail === 0) return 0;
    if (this.head === undefined && this.buf[pos] === DOLLAR) {
      if (avail < 4) return 0;
      const channel = this.buf[pos + 1] ?? 0;
      const length = this.buf.readUInt16BE(pos + 2);
      // RFC 2326 10.12: the length is 16 bits; the cap may be lower.
      if (length > this.limits.maxInterleavedFrame) {
        throw protocolError(`an interleaved frame of ${length} bytes is over the ${this.limits.maxInterleavedFrame}-byte cap`);
      }
      if (avail < 4 + length) return 0;
      this.sink.interleaved(channel, this.buf.subarray(pos + 4, pos + 4 + length));
      return 4 + length;
    }
    return this.stepMessage(pos);
  }

  private stepMessage(pos: number): number {
    const head = (this.head ??= { startLine: undefined, headers: new RtspHeaders(), count: 0, offset: 0, bodyLength: undefined });
    while (head.bodyLength === undefined) {
      const lineStart = pos + head.offset;
      const nl = this.buf.indexOf(LF, lineStart);
      const lineLength = (nl === -1 ? this.buf.length : nl + 1) - lineStart;
      if (lineLength > this.limits.maxHeaderLine) {
        throw protocolError(`a header line is longer than ${this.limits.maxHeaderLine} bytes`);
      }
      if (nl === -1) return 0;
      let end = nl;
      if (end > lineStart && this.buf[end - 1] === 0x0d) end--;
      const line = this.buf.toString('latin1', lineStart, end);
      head.offset += lineLength;
      this.onLine(head, line);
    }
    const start = pos + head.offset;
    if (this.buf.length - start < head.bodyLength) return 0;
    const body = Buffer.from(this.buf.subarray(start, start + head.bodyLength));
    const consumed = head.offset + head.bodyLength;
    this.head = undefined;
    this.sink.message(finish(head, body));
    return consumed;
  }

  private onLine(head: HeadState, line: string): void {
    if (head.startLine === undefined) {
      // RFC 2326 15: tolerate empty lines before a message (some cameras send a stray CRLF).
      if (line === '') return;
      if (!STATUS_LINE.test(line) && !REQUEST_LINE.test(line)) throw protocolError('the status line is not RTSP/1.0');
      head.startLine = line;
      return;
    }
    if (line === '') {
      const cl = head.headers.get('content-length');
      let length = 0;
      if (cl !== undefined) {
        if (!/^\d{1,10}$/.test(cl.trim())) throw protocolError('Content-Length is not a number');
        length = Number(cl.trim());
      }
      if (length > this.limits.maxBody) {
        throw protocolError(`a body of ${length} bytes is over the ${this.limits.maxBody}-byte cap`);
      }
      head.bodyLength = length;
      return;
    }
    if (++head.count > this.limits.maxHeaders) throw protocolError(`more than ${this.limits.maxHeaders} header lines`);
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!HEADER_NAME.test(name)) throw protocolError('a header line has no valid name');
    const value = line.slice(colon + 1).trim();
    // Header values are echoed into later requests only after their own checks; reject controls here.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw protocolError('a header value has control characters');
    head.headers.add(name, value);
  }
}

function finish(head: HeadState, body: Buffer): RtspMessage {
  const line = head.startLine ?? '';
  const status = STATUS_LINE.exec(line);
  if (status !== null) {
    return { kind: 'response', status: Number(status[1]), reason: status[2] ?? '', headers: head.headers, body };
  }
  const req = REQUEST_LINE.exec(line);
  return { kind: 'request', method: req?.[1] ?? '', uri: req?.[2] ?? '', headers: head.headers, body };
}
