import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type SecureServerOptions,
} from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

/**
 * The control plane's one HTTPS port, speaking HTTP/2 and HTTP/1.1 (ALPN).
 *
 * HTTP/2 is what lets an appliance keep ONE mTLS connection: its long-poll
 * for desired state waits up to 30 s, and its heartbeats, log batches, job
 * updates and downloads run beside it as other streams instead of on a second
 * socket (issue 5: a fleet of 10,000 appliances is 10,000 connections, not
 * 20,000). Browsers get HTTP/2 too; curl, the CLI and older clients stay on
 * HTTP/1.1 with the same handler (Node's compatibility API).
 */
export interface ListenerOptions {
  tls: SecureServerOptions;
  /** HTTP/1.1 keep-alive idle time. */
  keepAliveTimeoutMs: number;
  /** HTTP/1.1: the request head must arrive within this (slow-loris). */
  headersTimeoutMs: number;
  /** A connection (either protocol) with no traffic for this long is closed. */
  idleTimeoutMs: number;
  /** Concurrent streams one HTTP/2 connection may open (an appliance needs a handful). */
  maxConcurrentStreams: number;
  maxConnections: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Listener {
  server: Http2SecureServer;
  /** Closes the listening socket and every open connection now. */
  close(): Promise<void>;
}

export function createListener(options: ListenerOptions, handler: Handler): Listener {
  const server = createSecureServer(
    {
      ...options.tls,
      allowHTTP1: true,
      settings: { maxConcurrentStreams: options.maxConcurrentStreams, enablePush: false },
      // Request heads are small (the pipeline caps bodies itself): 64 KiB of headers at most.
      maxHeaderListPairs: 128,
      maxSendHeaderBlockLength: 64 * 1024,
      // An HTTP/2 connection's buffered, unsent data (per session): enough for a few large downloads.
      maxSessionMemory: 32,
    },
    // The compatibility API's request/response mirror http's (headers, statusCode, setHeader, streams).
    handler as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  );
  // HTTP/1.1 connections (allowHTTP1) are served by http's own machinery, which reads these from the server.
  const http1 = server as unknown as { keepAliveTimeout: number; headersTimeout: number; requestTimeout: number };
  http1.keepAliveTimeout = options.keepAliveTimeoutMs;
  http1.headersTimeout = options.headersTimeoutMs;
  // No cap on a whole request (multi-GiB uploads take minutes): an idle socket is closed instead.
  http1.requestTimeout = 0;
  server.maxConnections = options.maxConnections;
  // No 'timeout' listener: an idle HTTP/2 session is then closed (GOAWAY), an idle HTTP/1.1 socket destroyed.
  server.setTimeout(options.idleTimeoutMs);

  const sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A client that sends garbage instead of a request: refuse the stream, never crash.
  server.on('sessionError', () => undefined);
  server.on('stream', (stream) => stream.on('error', () => undefined));

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** The TLS connection a request came on, for either protocol (HTTP/2 hands out a per-stream proxy as `req.socket`). */
export function tlsSocketOf(req: IncomingMessage): TLSSocket {
  const session = (req as unknown as Partial<Http2ServerRequest>).stream?.session;
  return (session?.socket ?? req.socket) as TLSSocket;
}

/** `Host` (HTTP/1.1) or `:authority` (HTTP/2). */
export function hostOf(headers: Readonly<Record<string, string | string[] | undefined>>): string {
  return String(headers['host'] ?? headers[':authority'] ?? '');
}
