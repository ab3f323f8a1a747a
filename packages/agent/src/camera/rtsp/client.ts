import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { systemClock, type Clock } from '../../clock.js';
import type { CameraCredentials } from '../credentials.js';
import { CameraError } from '../errors.js';
import { chooseAuthenticator, parseChallenges, type Authenticator } from './auth.js';
import { H264Depacketizer, parseRtp, type AccessUnit, type DepacketizerStats } from './h264.js';
import { DEFAULT_RTSP_LIMITS, type RtspLimits } from './limits.js';
import { RtspReader, type RtspMessage, type RtspResponse } from './message.js';
import { parseSdp, type H264Track, type SessionDescription } from './sdp.js';

export interface RtspClientOptions {
  /** rtsp:// or rtsps:// without user-info (checked by the caller with `assertNoCredentialsInUrl`). */
  readonly url: URL;
  readonly credentials?: CameraCredentials | undefined;
  /** PEM CA certificate(s) that sign the camera's certificate (rtsps only). Absent: the system store. */
  readonly ca?: string | Buffer | undefined;
  /** Send Basic credentials over plain rtsp:// (default false: refused with RTSP_AUTH_INSECURE). */
  readonly allowBasicOverPlaintext?: boolean | undefined;
  readonly limits?: Partial<RtspLimits> | undefined;
  readonly userAgent?: string | undefined;
  readonly clock?: Clock | undefined;
  /** Aborting closes the connection; pending calls reject. */
  readonly signal?: AbortSignal | undefined;
}

/** Counters of one session, for status and tests. */
export interface RtspStats extends DepacketizerStats {
  bytes: number;
  keepalives: number;
}

export const RTSP_DEFAULT_PORT = 554;
/** RFC 7826 (RTSP 2.0) registers 322 for rtsps; cameras that offer RTSPS use it. */
export const RTSPS_DEFAULT_PORT = 322;

const NET_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EADDRNOTAVAIL',
  'ECONNABORTED',
]);

// OpenSSL X509_V_ERR_* names as Node reports them, plus Node's own host-name check.
const VERIFY_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errCode(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : '';
}

/** Turns a socket or TLS error into a CameraError. The host and port are not secret; the path may be, so it is left out. */
export function mapSocketError(err: unknown, where: string, secure: boolean, handshakeDone: boolean): CameraError {
  if (err instanceof CameraError) return err;
  const code = errCode(err);
  if (VERIFY_ERRORS.has(code)) {
    return new CameraError(
      'RTSP_TLS_VERIFY_FAILED',
      `The certificate of camera ${where} did not verify (${code}). Give the CA that signed the camera's certificate, and check that the certificate names the host in the URL.`,
      { cause: err, details: { tlsError: code } },
    );
  }
  if (NET_ERRORS.has(code)) {
    return new CameraError(
      'CAMERA_UNREACHABLE',
      handshakeDone
        ? `The connection to camera ${where} broke (${code}).`
        : `Cannot connect to camera ${where} (${code}). Check the host, the port and the network path.`,
      { cause: err, details: { netError: code } },
    );
  }
  if (secure && !handshakeDone) {
    return new CameraError(
      'RTSP_TLS_FAILED',
      `The TLS handshake with camera ${where} failed${code === '' ? '' : ` (${code})`}. Check that the camera speaks RTSPS on this port and supports TLS 1.2 or later.`,
      { cause: err, details: { tlsError: code } },
    );
  }
  return new CameraError('CAMERA_UNREACHABLE', `The connection to camera ${where} failed${code === '' ? '' : ` (${code})`}.`, {
    cause: err,
  });
}

/** The reason given when the connection is closed on purpose (close() or the abort signal). */
function closedOnPurpose(): CameraError {
  return new CameraError('CAMERA_UNREACHABLE', 'The connection to the camera was closed.', { details: { aborted: true } });
}

function protocolError(message: string): CameraError {
  return new CameraError('RTSP_PROTOCOL_ERROR', `The camera's RTSP reply is not usable: ${message}.`);
}

/** A request URI we put on the wire: an absolute rtsp(s) URL without user-info, spaces or controls. */
function checkRequestUri(uri: string): string {
  if (uri === '*') return uri;
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw protocolError('a control URL does not parse');
  }
  if (parsed.protocol !== 'rtsp:' && parsed.protocol !== 'rtsps:') throw protocolError('a control URL is not rtsp:// or rtsps://');
  // The camera must not steer credentials into a URL (seed point 8) or break the request line.
  if (parsed.username !== '' || parsed.password !== '') throw protocolError('a control URL carries user-info');
  if (parsed.href.length > 4096 || /[\s\x00-\x1f\x7f]/.test(parsed.href)) throw protocolError('a control URL is too long or has spaces');
  return parsed.href;
}

/**
 * Resolves an SDP `a=control` against the base URL. RFC 2326 C.1.1 says
 * "relative to Content-Base"; cameras in the field expect what ffmpeg and
 * live555 do: an absolute URL as is, otherwise appended to the base with one `/`.
 */
export function resolveControl(base: string, control: string | undefined): string {
  if (control === undefined || control === '' || control === '*') return checkRequestUri(base);
  if (/^rtsps?:\/\//i.test(control)) return checkRequestUri(control);
  return checkRequestUri(base.endsWith('/') ? base + control : `${base}/${control}`);
}

interface Pending {
  cseq: number;
  resolve: (res: RtspResponse) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * One RTSP 1.0 (RFC 2326) connection to a camera over TCP or TLS, with RTP
 * interleaved on it (10.12). Requests go one at a time; 401 replies are
 * answered from the credentials held in memory (Digest RFC 7616 or Basic
 * RFC 7617). Anything the camera sends is parsed under `RtspLimits`.
 */
export class RtspConnection {
  readonly secure: boolean;
  readonly limits: RtspLimits;
  /** Called for each interleaved frame. */
  onInterleaved: (channel: number, payload: Buffer) => void = () => undefined;
  /** Settles once, with the reason the connection ended. */
  readonly closed: Promise<CameraError>;
  bytes = 0;

  private readonly where: string;
  private readonly reader: RtspReader;
  private cseq = 0;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private authenticator: Authenticator | undefined;
  private session: string | undefined;
  private failure: CameraError | undefined;
  private resolveClosed: (err: CameraError) => void = () => undefined;

  private constructor(
    private readonly socket: Socket | TLSSocket,
    private readonly options: RtspClientOptions,
    limits: RtspLimits,
  ) {
    this.secure = options.url.protocol === 'rtsps:';
    this.limits = limits;
    this.where = options.url.host;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.reader = new RtspReader(limits, {
      message: (m) => this.onMessage(m),
      interleaved: (channel, payload) => this.onInterleaved(channel, payload),
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.failure !== undefined) return;
      this.bytes += chunk.length;
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.fail(err);
      }
    });
    socket.on('error', (err) => this.fail(mapSocketError(err, this.where, this.secure, true)));
    socket.on('close', () => this.fail(new CameraError('CAMERA_UNREACHABLE', `Camera ${this.where} closed the connection.`)));
  }

  /** Opens the TCP or TLS connection. TLS verifies the certificate chain and host name (fail closed). */
  static async open(options: RtspClientOptions): Promise<RtspConnection> {
    const limits: RtspLimits = { ...DEFAULT_RTSP_LIMITS, ...options.limits };
    const url = options.url;
    const secure = url.protocol === 'rtsps:';
    if (!secure && url.protocol !== 'rtsp:')
      throw new CameraError('CAMERA_SOURCE_INVALID', 'The camera URL must start with rtsp:// or rtsps://.');
    if (url.username !== '' || url.password !== '') {
      throw new CameraError('CAMERA_SOURCE_INVALID', 'The camera URL carries credentials; put them in the credentials field instead.');
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === '' ? (secure ? RTSPS_DEFAULT_PORT : RTSP_DEFAULT_PORT) : Number(url.port);
    const where = url.host;
    const signal = options.signal;
    if (signal?.aborted === true) throw closedOnPurpose();

    const socket: Socket | TLSSocket = secure
      ? tlsConnect({
          host,
          port,
          // SNI takes a DNS name only; the certificate check uses `host` either way.
          ...(isIP(host) === 0 ? { servername: host } : {}),
          ...(options.ca === undefined ? {} : { ca: options.ca }),
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
        })
      : netConnect({ host, port });
    socket.setNoDelay(true);

    await new Promise<void>((resolve, reject) => {
      let tcpUp = false;
      socket.once('connect', () => (tcpUp = true));
      const timer = setTimeout(
        () =>
          finish(
            secure && tcpUp
              ? new CameraError(
                  'RTSP_TLS_FAILED',
                  `Camera ${where} accepted the connection but did not complete a TLS handshake within ${limits.connectTimeoutMs / 1000} s. Check that it speaks RTSPS on this port.`,
                )
              : new CameraError(
                  'CAMERA_UNREACHABLE',
                  `Camera ${where} did not accept a connection within ${limits.connectTimeoutMs / 1000} s.`,
                ),
          ),
        limits.connectTimeoutMs,
      );
      const onAbort = (): void => finish(closedOnPurpose());
      const finish = (err?: CameraError): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off(secure ? 'secureConnect' : 'connect', onConnect);
        if (err === undefined) return resolve();
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => finish(mapSocketError(err, where, secure, false));
      const onConnect = (): void => {
        // Node already refused an unverified peer (rejectUnauthorized); check again, fail closed.
        if (secure && !(socket as TLSSocket).authorized) {
          const reason = String((socket as TLSSocket).authorizationError ?? 'unknown');
          finish(
            mapSocketError(
              Object.assign(new Error(reason), { code: VERIFY_ERRORS.has(reason) ? reason : 'CERT_UNTRUSTED' }),
              where,
              true,
              false,
            ),
          );
          return;
        }
        finish();
      };
      socket.once('error', onError);
      socket.once(secure ? 'secureConnect' : 'connect', onConnect);
      signal?.addEventListener('abort', onAbort, { once: true });
    });

    const conn = new RtspConnection(socket, options, limits);
    // Aborted between the connect and this line: the listener below would never run.
    if (options.signal?.aborted === true) conn.fail(closedOnPurpose());
    else signal?.addEventListener('abort', () => conn.fail(closedOnPurpose()), { once: true });
    return conn;
  }

  get sessionId(): string | undefined {
    return this.session;
  }

  get ended(): boolean {
    return this.failure !== undefined;
  }

  /**
   * Sends a request and returns the reply, answering one 401 with credentials
   * (and a stale nonce more than once, up to `maxAuthRetries`).
   */
  request(method: string, uri: string, headers: Record<string, string> = {}): Promise<RtspResponse> {
    const run = async (): Promise<RtspResponse> => {
      for (let attempt = 0; ; attempt++) {
        const sentWithAuth = this.authenticator !== undefined;
        const res = await this.send(method, uri, headers);
        if (res.status !== 401) return res;
        const creds = this.options.credentials;
        if (creds === undefined) {
          throw new CameraError(
            'RTSP_AUTH_FAILED',
            `Camera ${this.where} asks for credentials and none are set for it. Set the camera's user name and password.`,
          );
        }
        const challenges = parseChallenges(res.headers.all('www-authenticate'));
        if (challenges.length === 0) throw protocolError('a 401 reply without WWW-Authenticate');
        const stale = challenges.some((c) => c.scheme === 'digest' && (c.params.get('stale') ?? '').toLowerCase() === 'true');
        // RFC 7616 3.3: stale=true means the nonce expired, not that the password is wrong.
        if ((sentWithAuth && !stale) || attempt >= this.limits.maxAuthRetries) {
          throw new CameraError(
            'RTSP_AUTH_FAILED',
            `Camera ${this.where} refused the user name or password. Check the credentials set for this camera.`,
          );
        }
        this.authenticator = chooseAuthenticator(challenges, creds, {
          secure: this.secure,
          allowBasicOverPlaintext: this.options.allowBasicOverPlaintext ?? false,
        });
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private send(method: string, uri: string, headers: Record<string, string>): Promise<RtspResponse> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const target = checkRequestUri(uri);
    const cseq = ++this.cseq;
    const lines = [`${method} ${target} RTSP/1.0`, `CSeq: ${cseq}`, `User-Agent: ${this.options.userAgent ?? 'Sightline'}`];
    if (this.session !== undefined) lines.push(`Session: ${this.session}`);
    if (this.authenticator !== undefined) lines.push(`Authorization: ${this.authenticator.authorization(method, target)}`);
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    const text = `${lines.join('\r\n')}\r\n\r\n`;
    return new Promise<RtspResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new CameraError(
            'CAMERA_UNREACHABLE',
            `Camera ${this.where} did not answer ${method} within ${this.limits.responseTimeoutMs / 1000} s.`,
          ),
        );
      }, this.limits.responseTimeoutMs);
      this.pending = { cseq, resolve, reject, timer };
      this.socket.write(text);
    });
  }

  private onMessage(m: RtspMessage): void {
    if (m.kind === 'request') {
      // RFC 2326 allows server requests (ANNOUNCE, GET_PARAMETER, SET_PARAMETER); this client implements none.
      const cseq = m.headers.get('cseq') ?? '';
      if (/^\d{1,10}$/.test(cseq)) this.socket.write(`RTSP/1.0 501 Not Implemented\r\nCSeq: ${cseq}\r\n\r\n`);
      return;
    }
    const pending = this.pending;
    const cseq = m.headers.get('cseq');
    if (pending === undefined) throw protocolError('a reply to no request');
    // RFC 2326 12.17: the reply carries the request's CSeq.
    if (cseq === undefined || cseq.trim() !== String(pending.cseq)) throw protocolError('a reply with the wrong CSeq');
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve(m);
  }

  /** Records the session id from a SETUP reply (RFC 2326 12.37). Returns its timeout in seconds. */
  adoptSession(header: string | undefined): number {
    if (header === undefined) throw protocolError('SETUP reply without a Session header');
    const [id = '', ...params] = header.split(';').map((s) => s.trim());
    // 3.4: session-id = 1*( ALPHA | DIGIT | safe ); it is echoed in every request, so no spaces or controls.
    if (!/^[A-Za-z0-9$\-_.+]{1,256}$/.test(id)) throw protocolError('the Session id is not valid');
    if (this.session !== undefined && this.session !== id) throw protocolError('the Session id changed');
    this.session = id;
    let timeout = this.limits.defaultSessionTimeoutS;
    for (const p of params) {
      const m = /^timeout\s*=\s*(\d{1,6})$/i.exec(p);
      if (m !== null) timeout = Math.max(1, Number(m[1]));
    }
    return timeout;
  }

  /** Ends the connection with `reason` (first reason wins). */
  fail(reason: unknown): void {
    if (this.failure !== undefined) return;
    const err = reason instanceof CameraError ? reason : mapSocketError(reason, this.where, this.secure, true);
    this.failure = err;
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.socket.destroy();
    this.resolveClosed(err);
  }

  /** Sends TEARDOWN for `uri` (the aggregate control URL; best effort, short wait) and closes. */
  async close(uri: string = this.options.url.href): Promise<void> {
    if (this.failure === undefined && this.session !== undefined) {
      const done = this.request('TEARDOWN', uri).catch(() => undefined);
      await Promise.race([done, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    this.fail(closedOnPurpose());
  }
}

/** An H.264 stream being played from a camera. */
export interface RtspH264Stream {
  readonly secure: boolean;
  readonly track: H264Track;
  readonly stats: RtspStats;
  /** Settles once with the reason the stream ended (never rejects). */
  readonly closed: Promise<CameraError>;
  /** TEARDOWN and close. */
  close(): Promise<void>;
}

/** True when `err` only says the stream was closed on purpose (close() or abort). */
export function isAbort(err: unknown): boolean {
  return err instanceof CameraError && err.details?.['aborted'] === true;
}

/**
 * Connects, DESCRIBEs, SETUPs the H.264 track with RTP over the RTSP TCP
 * connection (RFC 2326 10.12, `RTP/AVP/TCP;unicast;interleaved=0-1`) and
 * PLAYs it. Access units reach `onAccessUnit` in Annex-B form. Keeps the
 * session alive with GET_PARAMETER (or OPTIONS) well within its timeout, and
 * ends the stream with CAMERA_STREAM_STALLED when no RTP arrives for
 * `stallTimeoutMs`.
 *
 * @example
 * const stream = await openRtspH264({ url: new URL('rtsps://cam-01:322/stream1'), credentials, ca }, (au) => decoder.write(au));
 * const why = await stream.closed;
 */
export async function openRtspH264(options: RtspClientOptions, onAccessUnit: (au: AccessUnit) => void): Promise<RtspH264Stream> {
  const clock = options.clock ?? systemClock;
  const conn = await RtspConnection.open(options);
  try {
    return await play(conn, options, clock, onAccessUnit);
  } catch (err) {
    conn.fail(err);
    throw err instanceof CameraError ? err : mapSocketError(err, options.url.host, conn.secure, true);
  }
}

function checkOk(res: RtspResponse, method: string, where: string): void {
  if (res.status >= 200 && res.status < 300) return;
  if (res.status >= 300 && res.status < 400) {
    // Following a redirect could send the credentials to another host: refuse.
    throw new CameraError(
      'RTSP_REQUEST_REFUSED',
      `Camera ${where} redirects ${method} elsewhere (${res.status}); set the camera URL to the final address.`,
      { details: { status: res.status } },
    );
  }
  const hint =
    res.status === 404
      ? ' Check the stream path in the URL.'
      : res.status === 454 || res.status === 455
        ? ' The camera lost the session.'
        : '';
  throw new CameraError(
    'RTSP_REQUEST_REFUSED',
    `Camera ${where} answered ${method} with ${res.status} ${res.reason.slice(0, 80)}.${hint}`,
    { details: { status: res.status } },
  );
}

async function play(
  conn: RtspConnection,
  options: RtspClientOptions,
  clock: Clock,
  onAccessUnit: (au: AccessUnit) => void,
): Promise<RtspH264Stream> {
  const url = options.url.href;
  const where = options.url.host;
  const limits = conn.limits;

  const opts = await conn.request('OPTIONS', url);
  checkOk(opts, 'OPTIONS', where);
  const publicMethods = (opts.headers.get('public') ?? '')
    .toUpperCase()
    .split(',')
    .map((s) => s.trim());

  const desc = await conn.request('DESCRIBE', url, { Accept: 'application/sdp' });
  checkOk(desc, 'DESCRIBE', where);
  const type = (desc.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/sdp') throw protocolError('DESCRIBE did not return application/sdp');
  const sdp: SessionDescription = parseSdp(desc.body.toString('utf8'));
  // RFC 2326 C.1.1: the base is Content-Base, else Content-Location, else the request URL.
  const base = desc.headers.get('content-base') ?? desc.headers.get('content-location') ?? url;
  const track = sdp.video;

  const setup = await conn.request('SETUP', resolveControl(base, track.control), { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
  checkOk(setup, 'SETUP', where);
  const transport = setup.headers.get('transport') ?? '';
  const channels = /(?:^|;)\s*interleaved=(\d{1,3})(?:-(\d{1,3}))?/.exec(transport);
  if (!/^RTP\/AVP\/TCP/i.test(transport) || channels === null) throw protocolError('SETUP did not accept RTP over the RTSP connection');
  const rtpChannel = Number(channels[1]);
  if (rtpChannel > 255) throw protocolError('the interleaved channel is out of range');
  const timeoutS = conn.adoptSession(setup.headers.get('session'));

  let keepalives = 0;
  const depacketizer = new H264Depacketizer(limits, track.parameterSets, onAccessUnit);
  let lastRtp = clock.now();
  conn.onInterleaved = (channel, payload) => {
    if (channel !== rtpChannel) return; // RTCP (the odd channel) is not needed over TCP.
    lastRtp = clock.now();
    const pkt = parseRtp(payload);
    if (pkt.payloadType !== track.payloadType) return;
    depacketizer.push(pkt);
  };

  const playUrl = resolveControl(base, sdp.control);
  const playRes = await conn.request('PLAY', playUrl, { Range: 'npt=0.000-' });
  checkOk(playRes, 'PLAY', where);
  lastRtp = clock.now();

  // Keep-alive (RFC 2326 12.37: the client must send a request within the session timeout).
  const stop = new AbortController();
  let keepaliveMethod = publicMethods.includes('GET_PARAMETER') ? 'GET_PARAMETER' : 'OPTIONS';
  const keepaliveMs = Math.max(500, (timeoutS * 1000) / 2);
  void (async () => {
    let next = clock.now() + keepaliveMs;
    while (!stop.signal.aborted && !conn.ended) {
      await clock.sleep(Math.min(1000, keepaliveMs / 2, limits.stallTimeoutMs), stop.signal);
      if (stop.signal.aborted || conn.ended) break;
      const now = clock.now();
      if (now - lastRtp > limits.stallTimeoutMs) {
        conn.fail(
          new CameraError('CAMERA_STREAM_STALLED', `Camera ${where} sent no video for ${Math.round(limits.stallTimeoutMs / 1000)} s.`),
        );
        break;
      }
      if (now >= next) {
        next = now + keepaliveMs;
        keepalives++;
        try {
          const res = await conn.request(keepaliveMethod, url);
          // Some cameras list GET_PARAMETER but refuse it: fall back to OPTIONS.
          if (res.status === 405 || res.status === 501 || res.status === 551) keepaliveMethod = 'OPTIONS';
          if (res.status === 454) conn.fail(new CameraError('CAMERA_STREAM_STALLED', `Camera ${where} ended the session (454).`));
        } catch (err) {
          conn.fail(err);
        }
      }
    }
  })();

  const closed = conn.closed.then((err) => {
    stop.abort();
    return err;
  });
  return {
    secure: conn.secure,
    track,
    get stats(): RtspStats {
      return { ...depacketizer.stats, bytes: conn.bytes, keepalives };
    },
    closed,
    close: async () => {
      stop.abort();
      await conn.close(playUrl);
    },
  };
}
