import type { ClientRequest, IncomingMessage } from 'node:http';
import { Agent, request, type AgentOptions, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { AgentError } from '../errors.js';
import { pinnedServerRefusal, transportError } from './pinning.js';

export interface FetchRequest {
  method: 'GET' | 'POST';
  /** Path and query under the control plane URL, e.g. `/device/v1/heartbeat`. */
  path: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  timeoutMs: number;
  /** Responses larger than this are cut off with RESPONSE_TOO_LARGE (STYLE: caps on everything read from outside). */
  maxResponseBytes: number;
  /** `poll` is the long-poll's own connection; everything else shares `control`. */
  channel: 'poll' | 'control';
  signal?: AbortSignal;
  /**
   * Streams a 2xx body: each chunk goes here instead of into `body` (which
   * stays empty). A throw ends the request with that error. The size cap
   * still applies.
   */
  onChunk?: (chunk: Buffer) => void;
}

export interface FetchResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A streamed request body (issue 8: an output preview's frames), on a connection of its own. */
export interface UploadRequest {
  path: string;
  contentType: string;
  /** Cap on the whole upload's life (the control plane ends a preview sooner). */
  timeoutMs: number;
  maxResponseBytes: number;
  signal?: AbortSignal;
}

export interface Upload {
  /** Writes a chunk; false when the connection's buffer is full (the caller drops rather than queues). */
  write(chunk: Buffer): boolean;
  readonly writableNeedDrain: boolean;
  /** Ends the body; the answer still comes. */
  end(): void;
  /** Ends at once, answer or not. */
  abort(): void;
  /** The control plane's answer, which may come before the body ends (it then ends the upload). */
  readonly response: Promise<FetchResponse>;
}

/** How the agent reaches the control plane; tests pass fakes (tuf-js's `Fetcher`). */
export interface Fetcher {
  request(req: FetchRequest): Promise<FetchResponse>;
  /** Streams a request body (previews); optional for fakes that do not. */
  upload?(req: UploadRequest): Upload;
  /** Closes the connections once the requests in flight are done. */
  close(): void;
}

/** What a TLS client needs to speak to the control plane as this device. */
export interface TlsIdentity {
  url: string;
  /** SHA-256 (hex) of the control plane's certificate, DER. */
  serverCertSha256: string;
  /** CA the control plane's certificate must chain to. */
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function normaliseFingerprint(fp: string): string {
  return fp.replaceAll(':', '').toLowerCase();
}

/**
 * An https.Agent that accepts a connection only when the server presents the
 * pinned certificate. The pin is checked first, on every new connection
 * before a byte of a request is written (the socket is handed to http only
 * after the checks), so a mismatch is always reported as SERVER_PIN_MISMATCH;
 * then the chain to the CA from the archive (RFC 5280 6.1) must verify too.
 * The host name is not checked: the pin names the one certificate, which is
 * stronger than any name match (RFC 7469 2.6 allows pinning to stand in).
 */
class PinnedAgent extends Agent {
  constructor(
    private readonly pin: string,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const cb = callback ?? ((): void => undefined);
    const socket = super.createConnection({ ...options, rejectUnauthorized: false, checkServerIdentity: () => undefined }) as TLSSocket;
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      cb(err, socket);
    };
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      const refused = pinnedServerRefusal(socket, this.pin);
      if (refused !== undefined) return fail(refused);
      settled = true;
      socket.off('error', fail);
      cb(null, socket);
    });
    return undefined;
  }
}

/**
 * The mTLS client: one keep-alive connection for the long-poll and one for
 * everything else (issue 5: one keep-alive mTLS connection per device for the
 * long-poll; heartbeats and logs must not queue behind a 30 s poll).
 */
export class HttpsFetcher implements Fetcher {
  private readonly base: URL;
  private readonly agents: Record<FetchRequest['channel'], PinnedAgent>;
  private readonly uploads: PinnedAgent;
  private inFlight = 0;
  private closing = false;

  constructor(identity: TlsIdentity) {
    this.base = new URL(identity.url);
    if (this.base.protocol !== 'https:') throw new AgentError('CONFIG_INVALID', 'The control plane URL must be https://.');
    const pin = normaliseFingerprint(identity.serverCertSha256);
    const options: AgentOptions = {
      keepAlive: true,
      keepAliveMsecs: 15_000,
      maxSockets: 1,
      maxFreeSockets: 1,
      // No TLS session resumption: a resumed session shows no certificate, and every new connection must prove
      // the pin afresh (a session cached from a refused connection must never let a later one skip the check).
      maxCachedSessions: 0,
      cert: identity.certPem,
      key: identity.keyPem,
      ca: [identity.caPem],
      // Seed point 1: TLS 1.2 at least.
      minVersion: 'TLSv1.2',
    };
    this.agents = { poll: new PinnedAgent(pin, options), control: new PinnedAgent(pin, options) };
    // Uploads hold their connection for minutes: never the long-poll's or the control one (heartbeats would queue).
    this.uploads = new PinnedAgent(pin, { ...options, keepAlive: false, maxSockets: 4, maxFreeSockets: 0 });
  }

  upload(req: UploadRequest): Upload {
    if (this.closing) throw new AgentError('ABORTED', 'The client is closed.');
    const url = new URL(req.path, this.base);
    this.inFlight++;
    let settle: { resolve: (r: FetchResponse) => void; reject: (e: Error) => void } | undefined;
    const response = new Promise<FetchResponse>((resolve, reject) => (settle = { resolve, reject }));
    response.catch(() => undefined); // a caller that only aborts must not leave an unhandled rejection
    let done = false;
    const finish = (err: Error | undefined, res?: FetchResponse): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      this.inFlight--;
      if (this.closing && this.inFlight === 0) this.destroyAgents();
      if (err !== undefined) settle?.reject(err);
      else if (res !== undefined) settle?.resolve(res);
    };
    const r: ClientRequest = request(
      url,
      { method: 'POST', agent: this.uploads, headers: { accept: 'application/json', 'content-type': req.contentType } },
      (res) =>
        this.readAnswer(res, r, url.pathname, req, (err, answer) => {
          finish(err, answer);
          // The answer ends the upload: stop sending whatever is left.
          if (answer !== undefined) r.destroy();
        }),
    );
    const timer = setTimeout(() => {
      r.destroy();
      finish(new AgentError('CONTROL_PLANE_TIMEOUT', `The upload to ${url.pathname} ran past ${req.timeoutMs} ms.`));
    }, req.timeoutMs);
    const onAbort = (): void => {
      r.destroy();
      finish(new AgentError('ABORTED', 'The upload was cancelled.'));
    };
    r.on('error', (err) => finish(transportError(err, this.base.origin)));
    if (req.signal?.aborted === true) onAbort();
    else req.signal?.addEventListener('abort', onAbort, { once: true });
    return {
      write: (chunk) => (done || r.destroyed ? false : r.write(chunk)),
      get writableNeedDrain() {
        return r.writableNeedDrain;
      },
      end: () => {
        if (!r.destroyed) r.end();
      },
      abort: onAbort,
      response,
    };
  }

  request(req: FetchRequest): Promise<FetchResponse> {
    if (this.closing) return Promise.reject(new AgentError('ABORTED', 'The client is closed.'));
    const url = new URL(req.path, this.base);
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8');
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    }
    const options: RequestOptions = { method: req.method, agent: this.agents[req.channel], headers };
    this.inFlight++;
    return new Promise<FetchResponse>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, res?: FetchResponse): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        this.inFlight--;
        if (this.closing && this.inFlight === 0) this.destroyAgents();
        if (err !== undefined) reject(err);
        else if (res !== undefined) resolve(res);
      };
      const r: ClientRequest = request(url, options, (res) => this.readAnswer(res, r, url.pathname, req, finish));
      const timer = setTimeout(() => {
        r.destroy();
        finish(new AgentError('CONTROL_PLANE_TIMEOUT', `The control plane did not answer ${url.pathname} within ${req.timeoutMs} ms.`));
      }, req.timeoutMs);
      const onAbort = (): void => {
        r.destroy();
        finish(new AgentError('ABORTED', 'The request was cancelled (the agent is stopping).'));
      };
      r.on('error', (err) => finish(transportError(err, this.base.origin))); // first: a destroyed request still emits
      if (req.signal?.aborted === true) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      r.end(body);
    });
  }

  /**
   * Reads one answer under the request's caps (declared and streamed size),
   * streaming a 2xx body to `onChunk` when given, into `finish`; `r` is
   * destroyed on a refusal.
   */
  private readAnswer(
    res: IncomingMessage,
    r: ClientRequest,
    path: string,
    req: Pick<FetchRequest, 'maxResponseBytes' | 'onChunk'>,
    finish: (err: Error | undefined, res?: FetchResponse) => void,
  ): void {
    const refuse = (err: Error): void => {
      finish(err);
      r.destroy();
    };
    const declared = Number(res.headers['content-length'] ?? '0');
    if (declared > req.maxResponseBytes) {
      return refuse(
        new AgentError(
          'RESPONSE_TOO_LARGE',
          `The control plane answered ${path} with ${declared} bytes; the cap is ${req.maxResponseBytes}.`,
        ),
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (d: Buffer) => {
      size += d.length;
      if (size > req.maxResponseBytes) {
        return refuse(new AgentError('RESPONSE_TOO_LARGE', `The control plane's answer to ${path} exceeds ${req.maxResponseBytes} bytes.`));
      }
      const status = res.statusCode ?? 0;
      if (req.onChunk !== undefined && status >= 200 && status < 300) {
        try {
          req.onChunk(d);
        } catch (err) {
          refuse(err instanceof Error ? err : new Error(String(err)));
        }
        return;
      }
      chunks.push(d);
    });
    res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    res.on('error', (err) => finish(transportError(err, this.base.origin)));
    res.on('aborted', () =>
      finish(new AgentError('CONTROL_PLANE_UNREACHABLE', `The connection to ${this.base.origin} closed mid-answer.`)),
    );
  }

  private destroyAgents(): void {
    this.agents.poll.destroy();
    this.agents.control.destroy();
    this.uploads.destroy();
  }

  close(): void {
    this.closing = true;
    if (this.inFlight === 0) this.destroyAgents();
  }
}
