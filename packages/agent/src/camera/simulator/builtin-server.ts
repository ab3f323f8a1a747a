import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer as createNetServer, isIPv6, type AddressInfo, type Server, type Socket } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { findFfmpeg } from '../decoder.js';
import { CameraError } from '../errors.js';
import { DEFAULT_RTSP_LIMITS } from '../rtsp/limits.js';
import { RtspReader, type RtspRequest } from '../rtsp/message.js';
import { ClipSource, type ClipAccessUnit } from './clip-source.js';
import {
  H264_CLOCK_RATE,
  H264_PAYLOAD_TYPE,
  RTP_HEADER_BYTES,
  packetizeAccessUnit,
  rtcpSenderReport,
  writeRtpHeader,
  type RtpPayload,
} from './rtp-packetizer.js';
import { RtspServerAuth } from './server-auth.js';
import type { CameraSimulator, SimulatorOptions } from './types.js';

/**
 * Caps of the built-in camera server (STYLE: size caps on everything read
 * from outside). A client is a network peer: it must not make the server
 * allocate without bound, hold sessions forever or queue video forever.
 */
export interface BuiltinServerLimits {
  /** Open TCP (or TLS) connections; more are closed at once. */
  readonly maxConnections: number;
  /** RTSP sessions (one per connection); SETUP beyond it gets 503. */
  readonly maxSessions: number;
  /** Longest request or header line, bytes. */
  readonly maxHeaderLine: number;
  /** Most header lines in one request. */
  readonly maxHeaders: number;
  /** Largest request body (GET_PARAMETER may carry one), bytes. */
  readonly maxBody: number;
  /** Bytes read but not yet a complete request. */
  readonly maxBuffered: number;
  /** RFC 2326 12.37: a session without a request (or RTCP) for this long ends. */
  readonly sessionTimeoutS: number;
  /** A connection with no traffic at all for this long is closed. */
  readonly idleConnectionMs: number;
  readonly tlsHandshakeTimeoutMs: number;
  /** Video waiting in one client's socket beyond this is dropped; that client resumes at the next keyframe. */
  readonly maxQueuedBytes: number;
  /** The pictures since the last keyframe kept for a joining client. */
  readonly maxGopBytes: number;
  /** Largest RTP payload, bytes (an Ethernet MTU less IP, TCP and RTP headers). */
  readonly maxRtpPayload: number;
  /** Digest nonces older than this are answered `stale=true`. */
  readonly nonceLifetimeMs: number;
  /** Wrong credentials on one connection before it is closed. */
  readonly maxAuthFailures: number;
  /** RTCP Sender Reports interval (RFC 3550 6.2), ms. */
  readonly rtcpIntervalMs: number;
}

export const DEFAULT_BUILTIN_SERVER_LIMITS: BuiltinServerLimits = Object.freeze({
  maxConnections: 32,
  maxSessions: 16,
  maxHeaderLine: 4096,
  maxHeaders: 32,
  maxBody: 4096,
  maxBuffered: 64 * 1024,
  sessionTimeoutS: 60,
  idleConnectionMs: 30_000,
  tlsHandshakeTimeoutMs: 10_000,
  maxQueuedBytes: 2 * 1024 * 1024,
  maxGopBytes: 4 * 1024 * 1024,
  maxRtpPayload: 1400,
  nonceLifetimeMs: 5 * 60_000,
  maxAuthFailures: 5,
  rtcpIntervalMs: 5000,
});

export interface BuiltinSimulatorOptions extends SimulatorOptions {
  readonly limits?: Partial<BuiltinServerLimits>;
}

export interface BuiltinServerStats {
  connections: number;
  sessions: number;
  playing: number;
  /** Pictures written to clients, all sessions together. */
  framesSent: number;
  /** Pictures not sent to a client whose socket was full (or that waited for a keyframe after that). */
  framesDropped: number;
  /** Video bytes waiting in client sockets now, the largest of any one client. */
  maxQueuedBytes: number;
}

export interface BuiltinCameraServer extends CameraSimulator {
  readonly engine: 'builtin';
  stats(): BuiltinServerStats;
  /** ffmpeg processes that read the clip (the last few). */
  readonly ffmpegPids: readonly number[];
}

const PUBLIC_METHODS = 'OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER';
const SERVER_NAME = 'Sightline camera simulator';
const TRACK = 'trackID=0';
const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  454: 'Session Not Found',
  455: 'Method Not Valid in This State',
  459: 'Aggregate Operation Not Allowed',
  461: 'Unsupported Transport',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

interface Session {
  readonly id: string;
  readonly conn: Connection;
  readonly ssrc: number;
  readonly tsOffset: number;
  readonly rtpChannel: number;
  readonly rtcpChannel: number;
  readonly setupUri: string;
  seq: number;
  playing: boolean;
  /** Skip pictures until the next keyframe (just joined without a cached GOP, or dropped a picture). */
  waitKeyframe: boolean;
  lastSeen: number;
  packets: number;
  octets: number;
}

interface Connection {
  readonly socket: Socket;
  session: Session | undefined;
  authFailures: number;
}

type Resource = 'aggregate' | 'track' | 'star' | undefined;

/**
 * Starts the built-in camera simulator: an RTSP 1.0 server (RFC 2326) with
 * RTP over the RTSP connection (10.12, `RTP/AVP/TCP` interleaved; UDP is
 * answered 461 so clients retry over TCP), H.264 as RFC 6184 mode 1, Digest
 * or Basic authentication, and RTSPS (RTSP over TLS) on the same code. The
 * clip is read by one ffmpeg (copy, no re-encoding) in real time and looped;
 * every playing client gets the same pictures, starting at a keyframe.
 *
 * @example
 * const cam = await startBuiltinCameraServer({ file: 'packages/agent/test/fixtures/video/street.mp4' });
 * console.log(cam.url); // rtsp://127.0.0.1:40123/stream
 * await cam.stop();
 */
export async function startBuiltinCameraServer(options: BuiltinSimulatorOptions): Promise<BuiltinCameraServer> {
  const limits: BuiltinServerLimits = { ...DEFAULT_BUILTIN_SERVER_LIMITS, ...options.limits };
  const file = resolvePath(options.file);
  if (!existsSync(file)) throw new CameraError('CAMERA_SOURCE_INVALID', `The clip ${options.file} does not exist.`);
  const path = options.path ?? '/stream';
  if (!/^\/[A-Za-z0-9._~\-/]{0,199}$/.test(path) || path.includes('//') || (path.length > 1 && path.endsWith('/'))) {
    throw new CameraError(
      'CAMERA_SOURCE_INVALID',
      'The stream path must start with / and use only letters, digits and . _ ~ - / (at most 200).',
    );
  }
  const host = options.host ?? '127.0.0.1';
  const ffmpegPath = options.ffmpegPath ?? findFfmpeg();
  if (ffmpegPath === undefined) {
    throw new CameraError(
      'FFMPEG_UNAVAILABLE',
      'The built-in camera simulator needs ffmpeg: install it (apt-get install ffmpeg), set SIGHTLINE_FFMPEG, or let npm install the optional @ffmpeg-installer/ffmpeg.',
    );
  }
  const source = new ClipSource({
    file,
    ffmpegPath,
    limits: { ...DEFAULT_RTSP_LIMITS, maxGopBytes: limits.maxGopBytes, stallMs: 10_000 },
  });
  await source.start(options.startTimeoutMs ?? 15_000);
  const server = new BuiltinRtspServer(source, limits, path, options);
  try {
    await server.listen(host, options.port ?? 0);
  } catch (err) {
    source.stop();
    throw err;
  }
  const address = server.address();
  const shown = isIPv6(host) ? `[${host}]` : host;
  const url = `${options.tls === undefined ? 'rtsp' : 'rtsps'}://${shown}:${address.port}${path}`;
  return {
    url,
    pid: process.pid,
    engine: 'builtin',
    exited: server.exited,
    stop: () => server.stop(),
    stats: () => server.stats(),
    get ffmpegPids() {
      return [...source.pids];
    },
  };
}

class BuiltinRtspServer {
  readonly exited: Promise<void>;
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly sessions = new Map<string, Session>();
  private readonly auth: RtspServerAuth | undefined;
  private readonly packets = new WeakMap<ClipAccessUnit, RtpPayload[]>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly sdpSessionId = randomInt(1, 2 ** 47);
  private framesSent = 0;
  private framesDropped = 0;
  private stopping: Promise<void> | undefined;
  private resolveExited: () => void = () => undefined;

  constructor(
    private readonly source: ClipSource,
    private readonly limits: BuiltinServerLimits,
    private readonly path: string,
    options: SimulatorOptions,
  ) {
    this.exited = new Promise((r) => (this.resolveExited = r));
    this.auth =
      options.credentials === undefined ? undefined : new RtspServerAuth(options.credentials, SERVER_NAME, limits.nonceLifetimeMs);
    const onSocket = (socket: Socket): void => this.accept(socket);
    this.server =
      options.tls === undefined
        ? createNetServer(onSocket)
        : createTlsServer(
            { cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2', handshakeTimeout: limits.tlsHandshakeTimeoutMs },
            onSocket,
          );
    this.server.maxConnections = limits.maxConnections;
    // A client that rejects our certificate, or a port scanner: nothing to do.
    this.server.on('tlsClientError', () => undefined);
    source.subscribe((au) => this.fanOut(au));
    void source.ended.then(() => this.stop());
    const sweep = setInterval(() => this.sweep(), 1000);
    const rtcp = setInterval(() => this.senderReports(), limits.rtcpIntervalMs);
    sweep.unref();
    rtcp.unref();
    this.timers.push(sweep, rtcp);
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void =>
        reject(
          new CameraError('CAMERA_UNREACHABLE', `The camera simulator cannot listen on ${host}:${port} (${err.code ?? err.message}).`, {
            cause: err,
          }),
        );
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  stats(): BuiltinServerStats {
    return {
      connections: this.connections.size,
      sessions: this.sessions.size,
      playing: [...this.sessions.values()].filter((s) => s.playing).length,
      framesSent: this.framesSent,
      framesDropped: this.framesDropped,
      maxQueuedBytes: Math.max(0, ...[...this.connections].map((c) => c.socket.writableLength)),
    };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      this.source.stop();
      const closed = new Promise<void>((r) => this.server.close(() => r()));
      for (const c of this.connections) c.socket.destroy();
      await closed;
      this.resolveExited();
    })();
    return this.stopping;
  }

  private accept(socket: Socket): void {
    const conn: Connection = { socket, session: undefined, authFailures: 0 };
    this.connections.add(conn);
    socket.setNoDelay(true);
    socket.setTimeout(this.limits.idleConnectionMs, () => socket.destroy());
    const reader = new RtspReader(
      {
        ...DEFAULT_RTSP_LIMITS,
        maxHeaderLine: this.limits.maxHeaderLine,
        maxHeaders: this.limits.maxHeaders,
        maxBody: this.limits.maxBody,
        maxBuffered: this.limits.maxBuffered,
      },
      {
        message: (m) => {
          if (m.kind === 'request') this.onRequest(conn, m);
        },
        interleaved: (channel) => {
          // RTCP receiver reports keep the session alive (RFC 2326 12.37, RFC 3550).
          const s = conn.session;
          if (s !== undefined && channel === s.rtcpChannel) s.lastSeen = Date.now();
        },
      },
    );
    socket.on('data', (chunk: Buffer) => {
      if (socket.destroyed) return;
      try {
        reader.push(chunk);
      } catch {
        // Over a cap or not RTSP: say so once and hang up (the reader is unusable now).
        socket.end(`RTSP/1.0 400 Bad Request\r\nServer: ${SERVER_NAME}\r\nConnection: close\r\n\r\n`);
        socket.destroySoon();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.connections.delete(conn);
      if (conn.session !== undefined) this.sessions.delete(conn.session.id);
      conn.session = undefined;
    });
  }

  private respond(
    conn: Connection,
    status: number,
    cseq: string | undefined,
    headers: readonly (readonly [string, string])[] = [],
    body?: Buffer,
  ): void {
    const lines = [`RTSP/1.0 ${status} ${REASONS[status] ?? 'Error'}`];
    if (cseq !== undefined) lines.push(`CSeq: ${cseq}`);
    lines.push(`Server: ${SERVER_NAME}`, `Date: ${new Date().toUTCString()}`);
    for (const [k, v] of headers) lines.push(`${k}: ${v}`);
    if (body !== undefined) lines.push(`Content-Length: ${body.length}`);
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    if (!conn.socket.destroyed) conn.socket.write(body === undefined ? head : Buffer.concat([head, body]));
  }

  /** Which of our resources a request URI names (only its path counts; clients reach us under many host names). */
  private resource(uri: string): Resource {
    if (uri === '*') return 'star';
    let parsed: URL;
    try {
      parsed = new URL(uri);
    } catch {
      return undefined;
    }
    if (parsed.protocol !== 'rtsp:' && parsed.protocol !== 'rtsps:') return undefined;
    const p = parsed.pathname.length > 1 && parsed.pathname.endsWith('/') ? parsed.pathname.slice(0, -1) : parsed.pathname;
    if (p === this.path) return 'aggregate';
    if (p === `${this.path === '/' ? '' : this.path}/${TRACK}`) return 'track';
    return undefined;
  }

  private onRequest(conn: Connection, req: RtspRequest): void {
    const cseq = req.headers.get('cseq')?.trim();
    // RFC 2326 12.17: every request carries CSeq, echoed in the reply.
    if (cseq === undefined || !/^\d{1,9}$/.test(cseq)) return this.respond(conn, 400, undefined);
    const s = conn.session;
    const sessionHeader = req.headers.get('session')?.split(';')[0]?.trim();
    const resource = this.resource(req.uri);
    if (req.method === 'OPTIONS') {
      if (s !== undefined && sessionHeader === s.id) s.lastSeen = Date.now();
      return this.respond(conn, 200, cseq, [['Public', PUBLIC_METHODS]]);
    }
    if (resource === undefined) return this.respond(conn, 404, cseq);
    if (this.auth !== undefined) {
      const verdict = this.auth.check(req.method, req.uri, req.headers.get('authorization'));
      if (verdict !== 'ok') {
        if (verdict === 'wrong' && ++conn.authFailures >= this.limits.maxAuthFailures) {
          this.respond(conn, 401, cseq, [['WWW-Authenticate', this.auth.challenge()]]);
          conn.socket.destroySoon();
          return;
        }
        return this.respond(conn, 401, cseq, [['WWW-Authenticate', this.auth.challenge(verdict === 'stale')]]);
      }
    }
    // RFC 2326 12.37: a request naming another session (or one that ended) gets 454.
    if (sessionHeader !== undefined && sessionHeader !== s?.id) return this.respond(conn, 454, cseq);
    if (s !== undefined && sessionHeader === s.id) s.lastSeen = Date.now();
    switch (req.method) {
      case 'DESCRIBE':
        return this.describe(conn, req, cseq, resource);
      case 'SETUP':
        return this.setup(conn, req, cseq, resource);
      case 'PLAY':
      case 'PAUSE':
      case 'TEARDOWN': {
        if (s === undefined || sessionHeader === undefined) return this.respond(conn, 454, cseq);
        if (req.method === 'PLAY') return this.play(conn, s, cseq);
        if (req.method === 'PAUSE') {
          s.playing = false;
          return this.respond(conn, 200, cseq, [['Session', s.id]]);
        }
        this.sessions.delete(s.id);
        conn.session = undefined;
        return this.respond(conn, 200, cseq);
      }
      case 'GET_PARAMETER':
        // Keep-alive (RFC 2326 10.8): an empty reply.
        return this.respond(conn, 200, cseq, s === undefined ? [] : [['Session', s.id]], Buffer.alloc(0));
      default:
        return this.respond(conn, 501, cseq, [['Public', PUBLIC_METHODS]]);
    }
  }

  private describe(conn: Connection, req: RtspRequest, cseq: string, resource: Resource): void {
    if (resource !== 'aggregate') return this.respond(conn, 404, cseq);
    const sps = this.source.sps;
    const pps = this.source.pps;
    if (sps === undefined || pps === undefined || sps.length < 4) return this.respond(conn, 503, cseq);
    const local = (conn.socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    // RFC 6184 8.1: profile-level-id is the SPS's profile_idc, constraint flags and level_idc.
    const profileLevelId = sps.subarray(1, 4).toString('hex').toUpperCase();
    const sdp = [
      'v=0',
      `o=- ${this.sdpSessionId} 1 IN ${isIPv6(local) ? 'IP6' : 'IP4'} ${local}`,
      `s=${SERVER_NAME}`,
      `c=IN ${isIPv6(local) ? 'IP6 ::' : 'IP4 0.0.0.0'}`,
      't=0 0',
      `a=tool:${SERVER_NAME}`,
      'a=type:broadcast',
      'a=range:npt=now-',
      'a=control:*',
      `m=video 0 RTP/AVP ${H264_PAYLOAD_TYPE}`,
      `a=rtpmap:${H264_PAYLOAD_TYPE} H264/${H264_CLOCK_RATE}`,
      `a=fmtp:${H264_PAYLOAD_TYPE} packetization-mode=1;profile-level-id=${profileLevelId};sprop-parameter-sets=${sps.toString('base64')},${pps.toString('base64')}`,
      `a=control:${TRACK}`,
      '',
    ].join('\r\n');
    const base = new URL(req.uri);
    base.search = '';
    base.hash = '';
    const contentBase = base.href.endsWith('/') ? base.href : `${base.href}/`;
    this.respond(
      conn,
      200,
      cseq,
      [
        ['Content-Base', contentBase],
        ['Content-Type', 'application/sdp'],
      ],
      Buffer.from(sdp, 'utf8'),
    );
  }

  private setup(conn: Connection, req: RtspRequest, cseq: string, resource: Resource): void {
    if (resource !== 'track' && resource !== 'aggregate') return this.respond(conn, 404, cseq);
    // RFC 2326 12.39: a comma-separated list of transports in order of preference; take the first over TCP.
    let channels: [number, number] | undefined;
    for (const spec of (req.headers.get('transport') ?? '').split(',')) {
      const [proto = '', ...params] = spec.split(';').map((p) => p.trim());
      if (!/^RTP\/AVP\/TCP$/i.test(proto)) continue;
      if (params.some((p) => /^mode=/i.test(p) && !/^mode="?play"?$/i.test(p))) continue;
      const il = params.map((p) => /^interleaved=(\d{1,3})(?:-(\d{1,3}))?$/i.exec(p)).find((m) => m !== null);
      const a = il === undefined || il === null ? 0 : Number(il[1]);
      const b = il?.[2] === undefined ? a + 1 : Number(il[2]);
      if (a > 255 || b > 255) continue;
      channels = [a, b];
      break;
    }
    // RTP over UDP is not offered: 461 makes clients (ffmpeg, VLC) retry over TCP.
    if (channels === undefined) return this.respond(conn, 461, cseq);
    let s = conn.session;
    if (s === undefined) {
      if (this.sessions.size >= this.limits.maxSessions) return this.respond(conn, 503, cseq);
      s = {
        id: randomBytes(8).toString('hex'),
        conn,
        ssrc: randomBytes(4).readUInt32BE(0),
        // RFC 3550 5.1: the initial sequence number and timestamp are random.
        seq: randomInt(0, 65536),
        tsOffset: randomBytes(4).readUInt32BE(0),
        rtpChannel: channels[0],
        rtcpChannel: channels[1],
        setupUri: req.uri,
        playing: false,
        waitKeyframe: true,
        lastSeen: Date.now(),
        packets: 0,
        octets: 0,
      };
      conn.session = s;
      this.sessions.set(s.id, s);
    } else if (s.rtpChannel !== channels[0]) {
      // One track, so one SETUP per session; a second for other channels is refused.
      return this.respond(conn, 459, cseq);
    }
    this.respond(conn, 200, cseq, [
      [
        'Transport',
        `RTP/AVP/TCP;unicast;interleaved=${s.rtpChannel}-${s.rtcpChannel};ssrc=${s.ssrc.toString(16).toUpperCase().padStart(8, '0')};mode="PLAY"`,
      ],
      ['Session', `${s.id};timeout=${this.limits.sessionTimeoutS}`],
    ]);
  }

  private play(conn: Connection, s: Session, cseq: string): void {
    const gop = this.source.gop;
    const first = gop[0];
    const rtptime = this.rtpTime(s, first?.ts90 ?? this.source.nowTs90());
    this.respond(conn, 200, cseq, [
      ['Session', s.id],
      ['Range', 'npt=0.000-'],
      ['RTP-Info', `url=${s.setupUri};seq=${s.seq & 0xffff};rtptime=${rtptime}`],
    ]);
    if (s.playing) return;
    s.playing = true;
    s.waitKeyframe = true;
    // Start at the last keyframe: send the pictures since it now, then the live ones.
    for (const au of gop) this.send(s, au);
  }

  private rtpTime(s: Session, ts90: number): number {
    return (ts90 + s.tsOffset) % 2 ** 32;
  }

  private fanOut(au: ClipAccessUnit): void {
    for (const s of this.sessions.values()) if (s.playing) this.send(s, au);
  }

  private send(s: Session, au: ClipAccessUnit): void {
    const socket = s.conn.socket;
    if (socket.destroyed) return;
    if (s.waitKeyframe && !au.keyframe) {
      this.framesDropped++;
      return;
    }
    // A slow client: drop pictures rather than queue them, and resume at a keyframe (P-frames need their references).
    if (socket.writableLength > this.limits.maxQueuedBytes) {
      s.waitKeyframe = true;
      this.framesDropped++;
      return;
    }
    s.waitKeyframe = false;
    let payloads = this.packets.get(au);
    if (payloads === undefined) {
      payloads = packetizeAccessUnit(au.nals, this.limits.maxRtpPayload);
      this.packets.set(au, payloads);
    }
    let total = 0;
    for (const p of payloads) for (const piece of p) total += piece.length;
    const buf = Buffer.allocUnsafe(total + payloads.length * (4 + RTP_HEADER_BYTES));
    const timestamp = this.rtpTime(s, au.ts90);
    let off = 0;
    payloads.forEach((p, i) => {
      let len = RTP_HEADER_BYTES;
      for (const piece of p) len += piece.length;
      // RFC 2326 10.12: '$', channel, 16-bit length, then the RTP packet.
      buf[off] = 0x24;
      buf[off + 1] = s.rtpChannel;
      buf.writeUInt16BE(len, off + 2);
      // RFC 6184 5.1: the marker bit is set on the last packet of the access unit.
      writeRtpHeader(buf, off + 4, {
        marker: i === payloads.length - 1,
        payloadType: H264_PAYLOAD_TYPE,
        sequence: s.seq,
        timestamp,
        ssrc: s.ssrc,
      });
      s.seq = (s.seq + 1) & 0xffff;
      off += 4 + RTP_HEADER_BYTES;
      for (const piece of p) {
        piece.copy(buf, off);
        off += piece.length;
      }
    });
    s.packets += payloads.length;
    s.octets += total;
    this.framesSent++;
    socket.write(buf);
  }

  private senderReports(): void {
    const now = this.source.nowTs90();
    for (const s of this.sessions.values()) {
      if (!s.playing || s.packets === 0 || s.conn.socket.destroyed) continue;
      const sr = rtcpSenderReport(s.ssrc, Date.now(), this.rtpTime(s, now), s.packets, s.octets);
      const frame = Buffer.allocUnsafe(4 + sr.length);
      frame[0] = 0x24;
      frame[1] = s.rtcpChannel;
      frame.writeUInt16BE(sr.length, 2);
      sr.copy(frame, 4);
      s.conn.socket.write(frame);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      if (now - s.lastSeen > this.limits.sessionTimeoutS * 1000) {
        // RFC 2326 12.37: the session timed out; its video has nowhere else to go, so the connection ends too.
        this.sessions.delete(s.id);
        s.conn.session = undefined;
        s.conn.socket.destroy();
      }
    }
  }
}
