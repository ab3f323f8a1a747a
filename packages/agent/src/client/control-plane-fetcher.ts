import {
  connect as h2connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { AgentError } from '../errors.js';
import {
  HttpsFetcher,
  normaliseFingerprint,
  type FetchRequest,
  type FetchResponse,
  type Fetcher,
  type TlsIdentity,
  type Upload,
  type UploadRequest,
} from './fetcher.js';
import { pinnedServerRefusal, transportError } from './pinning.js';

/** Per-stream receive window: a package download is not held to 64 KiB per round trip. */
const STREAM_WINDOW = 1024 * 1024;
/** The whole connection's receive window (a few downloads beside the long-poll). */
const SESSION_WINDOW = 8 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 20_000;

type Protocol = 'unknown' | 'h2' | 'http/1.1';

/**
 * The agent's client for the control plane: ONE mTLS connection that carries
 * everything as HTTP/2 streams (issue 5): the long-poll for desired state
 * (up to 30 s) beside heartbeats, log batches, job updates, downloads and
 * preview uploads, so a fleet of N appliances holds N connections, not 2N.
 *
 * Every new connection is checked before a byte of HTTP is written: exactly
 * the certificate pinned at provisioning, chaining to the archive's CA
 * (`pinnedServerRefusal`). A control plane (or a TLS-passthrough proxy) that
 * does not offer `h2` in ALPN gets the HTTP/1.1 client (`HttpsFetcher`:
 * one keep-alive connection for the poll, one for the rest).
 *
 * A dead connection is found by its requests timing out (each has a
 * deadline): the session is then dropped and the next request dials anew;
 * a GOAWAY lets the requests in flight finish and sends new ones elsewhere.
 */
export class ControlPlaneFetcher implements Fetcher {
  private readonly base: URL;
  private readonly pin: string;
  private protocol: Protocol = 'unknown';
  private session: ClientHttp2Session | undefined;
  private connecting: Promise<ClientHttp2Session | undefined> | undefined;
  private http1: HttpsFetcher | undefined;
  private inFlight = 0;
  private closing = false;
  /** Connections opened so far (tests and the bench count them). */
  connections = 0;

  constructor(private readonly identity: TlsIdentity) {
    this.base = new URL(identity.url);
    if (this.base.protocol !== 'https:') throw new AgentError('CONFIG_INVALID', 'The control plane URL must be https://.');
    this.pin = normaliseFingerprint(identity.serverCertSha256);
  }

  /** What the control plane spoke on the last connection ('unknown' before the first). */
  get negotiated(): Protocol {
    return this.protocol;
  }

  async request(req: FetchRequest): Promise<FetchResponse> {
    if (this.closing) throw new AgentError('ABORTED', 'The client is closed.');
    if (req.signal?.aborted === true) throw aborted();
    this.begin();
    try {
      const session = await this.sessionFor(req.signal, req.timeoutMs);
      if (session === undefined) return await this.fallback().request(req);
      return await this.exchange(session, req);
    } finally {
      this.end();
    }
  }

  upload(req: UploadRequest): Upload {
    if (this.closing) throw new AgentError('ABORTED', 'The client is closed.');
    // HTTP/1.1 needs its own connection per upload: the fallback knows how.
    if (this.protocol === 'http/1.1') return this.fallback().upload(req);
    this.begin();
    return this.streamedUpload(req);
  }

  close(): void {
    this.closing = true;
    if (this.inFlight === 0) this.shutdown();
  }

  private begin(): void {
    this.inFlight++;
    this.session?.ref();
  }

  private end(): void {
    this.inFlight--;
    if (this.inFlight > 0) return;
    if (this.closing) this.shutdown();
    // An idle connection must not keep a CLI process (register, update) alive.
    else this.session?.unref();
  }

  private shutdown(): void {
    this.session?.close();
    this.session = undefined;
    this.http1?.close();
  }

  private fallback(): HttpsFetcher {
    this.http1 ??= new HttpsFetcher(this.identity);
    return this.http1;
  }

  private sessionFor(signal: AbortSignal | undefined, timeoutMs: number): Promise<ClientHttp2Session | undefined> {
    if (this.protocol === 'http/1.1') return Promise.resolve(undefined);
    const live = this.session;
    if (live !== undefined && !live.closed && !live.destroyed) return Promise.resolve(live);
    this.connecting ??= this.dial(Math.min(timeoutMs, CONNECT_TIMEOUT_MS)).finally(() => (this.connecting = undefined));
    if (signal === undefined) return this.connecting;
    // A cancelled request stops waiting; the dial itself goes on for the others.
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(aborted());
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.connecting?.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** One TLS connection, pin-checked, then HTTP/2 on it (or undefined: the server speaks HTTP/1.1 only). */
  private dial(timeoutMs: number): Promise<ClientHttp2Session | undefined> {
    const host = this.base.hostname.replace(/^\[|\]$/g, '');
    return new Promise((resolve, reject) => {
      const socket: TLSSocket = tlsConnect({
        host,
        port: Number(this.base.port || 443),
        ...(isIP(host) === 0 ? { servername: host } : {}),
        cert: this.identity.certPem,
        key: this.identity.keyPem,
        ca: [this.identity.caPem],
        // Seed point 1: TLS 1.2 at least.
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['h2', 'http/1.1'],
        // Checked below, before anything is sent: the pin is stronger than a name match.
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      this.connections++;
      const timer = setTimeout(
        () => fail(new AgentError('CONTROL_PLANE_TIMEOUT', `Connecting to ${this.base.origin} took over ${timeoutMs} ms.`)),
        timeoutMs,
      );
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => fail(transportError(err, this.base.origin));
      socket.once('error', onError);
      socket.once('secureConnect', () => {
        const refused = pinnedServerRefusal(socket, this.pin);
        if (refused !== undefined) return fail(refused);
        clearTimeout(timer);
        socket.off('error', onError);
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          this.protocol = 'http/1.1';
          return resolve(undefined);
        }
        this.protocol = 'h2';
        const session = h2connect(this.base.origin, {
          createConnection: () => socket,
          settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
        });
        session.on('error', () => undefined); // each stream reports its own failure
        session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
        const forget = (): void => {
          if (this.session === session) this.session = undefined;
        };
        session.once('close', forget);
        session.once('goaway', forget);
        if (this.inFlight === 0) session.unref();
        this.session = session;
        resolve(session);
      });
    });
  }

  private headers(
    method: string,
    req: { path: string; headers?: Record<string, string> },
    body?: Buffer,
    contentType?: string,
  ): OutgoingHttpHeaders {
    const url = new URL(req.path, this.base);
    const headers: OutgoingHttpHeaders = {
      ':method': method,
      ':path': `${url.pathname}${url.search}`,
      accept: 'application/json',
      ...req.headers,
    };
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (body !== undefined) headers['content-length'] = String(body.length);
    return headers;
  }

  private exchange(session: ClientHttp2Session, req: FetchRequest): Promise<FetchResponse> {
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8');
    const path = new URL(req.path, this.base).pathname;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(this.headers(req.method, req, body, body === undefined ? undefined : 'application/json'), {
        endStream: body === undefined,
      });
    } catch (err) {
      // The session closed between the lookup and now (GOAWAY, reset): the caller retries as for any network fault.
      if (this.session === session) this.session = undefined;
      return Promise.reject(transportError(err, this.base.origin));
    }
    if (body !== undefined) stream.end(body);
    return this.readAnswer(session, stream, path, req);
  }

  /** Reads one stream's answer with the request's caps, deadline and cancellation. */
  private readAnswer(
    session: ClientHttp2Session,
    stream: ClientHttp2Stream,
    path: string,
    req: Pick<FetchRequest, 'timeoutMs' | 'maxResponseBytes' | 'signal' | 'onChunk'>,
    onSettled?: () => void,
  ): Promise<FetchResponse> {
    return new Promise<FetchResponse>((resolve, reject) => {
      let done = false;
      let status = 0;
      let headers: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (err: Error | undefined, res?: FetchResponse): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        if (!stream.closed) stream.close(h2.NGHTTP2_CANCEL);
        onSettled?.();
        if (err !== undefined) reject(err);
        else if (res !== undefined) resolve(res);
      };
      const timer = setTimeout(() => {
        // No answer in time: the connection is suspect (a pulled cable shows no error). Drop it; the next request dials anew.
        if (this.session === session) this.session = undefined;
        session.destroy();
        finish(new AgentError('CONTROL_PLANE_TIMEOUT', `The control plane did not answer ${path} within ${req.timeoutMs} ms.`));
      }, req.timeoutMs);
      const onAbort = (): void => finish(aborted());
      if (req.signal?.aborted === true) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });

      stream.on('response', (h) => {
        status = Number(h[':status'] ?? 0);
        headers = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith(':')));
        const declared = Number(h['content-length'] ?? '0');
        if (declared > req.maxResponseBytes) {
          finish(
            new AgentError(
              'RESPONSE_TOO_LARGE',
              `The control plane answered ${path} with ${declared} bytes; the cap is ${req.maxResponseBytes}.`,
            ),
          );
        }
      });
      stream.on('data', (d: Buffer) => {
        if (done) return;
        size += d.length;
        if (size > req.maxResponseBytes) {
          return finish(
            new AgentError('RESPONSE_TOO_LARGE', `The control plane's answer to ${path} exceeds ${req.maxResponseBytes} bytes.`),
          );
        }
        if (req.onChunk !== undefined && status >= 200 && status < 300) {
          try {
            req.onChunk(d);
          } catch (err) {
            finish(err instanceof Error ? err : new Error(String(err)));
          }
          return;
        }
        chunks.push(d);
      });
      stream.on('end', () => finish(undefined, { status, headers, body: Buffer.concat(chunks) }));
      stream.on('error', (err) => finish(transportError(err, this.base.origin)));
      stream.on('close', () =>
        finish(new AgentError('CONTROL_PLANE_UNREACHABLE', `The connection to ${this.base.origin} closed mid-answer (${path}).`)),
      );
    });
  }

  /** A request body written as it comes (a preview's frames), on a stream of the one connection. */
  private streamedUpload(req: UploadRequest): Upload {
    const path = new URL(req.path, this.base).pathname;
    let stream: ClientHttp2Stream | undefined;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.end();
    };
    const response = this.sessionFor(req.signal, req.timeoutMs).then((session) => {
      if (session === undefined)
        throw new AgentError('CONTROL_PLANE_UNREACHABLE', 'The control plane does not speak HTTP/2; retry the upload.');
      stream = session.request(this.headers('POST', req, undefined, req.contentType));
      // The answer ends the upload: whatever is left unsent is dropped with the stream.
      return this.readAnswer(
        session,
        stream,
        path,
        { timeoutMs: req.timeoutMs, maxResponseBytes: req.maxResponseBytes, ...(req.signal === undefined ? {} : { signal: req.signal }) },
        settle,
      );
    });
    // Handles the rejection too: a caller that only aborts leaves no unhandled rejection.
    response.catch(settle);
    return {
      write: (chunk) => (stream === undefined || stream.closed || stream.destroyed ? false : stream.write(chunk)),
      get writableNeedDrain() {
        return stream === undefined || stream.writableNeedDrain;
      },
      end: () => {
        if (stream !== undefined && !stream.closed) stream.end();
      },
      abort: () => {
        if (stream !== undefined && !stream.closed) stream.close(h2.NGHTTP2_CANCEL);
      },
      response,
    };
  }
}

const aborted = (): AgentError => new AgentError('ABORTED', 'The request was cancelled (the agent is stopping).');
