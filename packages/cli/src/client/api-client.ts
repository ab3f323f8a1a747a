import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { api } from '@sightline/protocol';
import { ApiError, CliError, EXIT } from '../errors.js';

/** Largest response body read; the biggest identity answer is a few hundred KiB. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface ApiClientOptions {
  /** Base URL, `https://host:port`. Plain HTTP and user-info are refused. */
  url: string;
  /** PEM CA bundle to trust (the server's internal CA); the system roots when absent. */
  ca?: string;
  /** Bearer token: a session token or an API key. */
  token?: string;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

export interface RequestOptions {
  body?: unknown;
  /** Aborts the request (Ctrl-C): it fails with CANCELLED (exit 130). */
  signal?: AbortSignal;
  /** Deadline for this request (default the client's); a long poll needs more than it waits. */
  timeoutMs?: number;
}

/** A download under way: the response body and what the server declared about it. */
export interface Download {
  body: IncomingMessage;
  /** Content-Length: the plaintext size. */
  length: number | undefined;
  /** x-sightline-sha256: the plaintext's SHA-256, hex. */
  sha256: string | undefined;
  /** Stops the transfer. */
  cancel(): void;
}

export const cancelled = (): CliError => new CliError('CANCELLED', 'Interrupted (Ctrl-C).', EXIT.CANCELLED);
const changed = (): CliError =>
  new CliError('FILE_CHANGED', 'The file changed while it was being sent; nothing was stored. Upload it again.', EXIT.INVALID);

/** Node's codes for a certificate the client did not accept. */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
]);

/** Checks a server URL: HTTPS only, no credentials in it (seed point 8). Returns it without a trailing slash. */
export function checkServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError('URL_INVALID', `${JSON.stringify(raw)} is not a URL; give one like https://sightline.example.com:8443.`, EXIT.USAGE);
  }
  if (url.protocol !== 'https:')
    throw new CliError('URL_INVALID', 'The server URL must start with https:// (Sightline serves HTTPS only).', EXIT.USAGE);
  if (url.username !== '' || url.password !== '') {
    throw new CliError('URL_INVALID', 'Do not put credentials in the URL; sign in with "sightline login --user NAME".', EXIT.USAGE);
  }
  if (url.search !== '' || url.hash !== '')
    throw new CliError('URL_INVALID', 'The server URL must not carry a query or fragment.', EXIT.USAGE);
  return url.toString().replace(/\/+$/, '');
}

/** Turns a socket or TLS failure into a CLI error with its own code (exit 8). */
function networkError(err: unknown, url: string): CliError | ApiError {
  if (err instanceof CliError || err instanceof ApiError) return err;
  const raw = (err as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' ? raw : '';
  const why = err instanceof Error ? err.message : String(err);
  if (TLS_VERIFY_CODES.has(code)) {
    return new CliError(
      'TLS_VERIFY_FAILED',
      `The server's certificate was not accepted (${why}); check the CA certificate (--ca or SIGHTLINE_CA: the server's ca.pem) and that the URL's host name is in the certificate.`,
      EXIT.UNREACHABLE,
      { cause: err },
    );
  }
  if (UNREACHABLE_CODES.has(code)) {
    return new CliError(
      'SERVER_UNREACHABLE',
      `Cannot reach ${url} (${code}); check the URL and that the server is running.`,
      EXIT.UNREACHABLE,
      { cause: err },
    );
  }
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || code.startsWith('ERR_TLS')) {
    return new CliError('TLS_HANDSHAKE_FAILED', `The TLS handshake with ${url} failed (${why}).`, EXIT.UNREACHABLE, { cause: err });
  }
  return new CliError('SERVER_UNREACHABLE', `The request to ${url} failed: ${why}.`, EXIT.UNREACHABLE, { cause: err });
}

/**
 * A small HTTPS client for the control plane's JSON API: TLS 1.2+, the
 * profile's CA, a bearer token, a deadline and a cap on the response size.
 * Error answers become {@link ApiError} carrying the server's code and
 * message; network and TLS failures become {@link CliError}s with exit code 8.
 *
 * @example
 * ```ts
 * const client = new ApiClient({ url: 'https://localhost:8443', ca: pem, token });
 * const me = await client.request('GET', '/api/v1/auth/whoami', { schema: api.whoamiResponse });
 * ```
 */
export class ApiClient {
  readonly url: string;
  private readonly ca: string | undefined;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(options: ApiClientOptions) {
    this.url = checkServerUrl(options.url);
    this.ca = options.ca;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  }

  /** The same server and CA with another token (after login). */
  withToken(token: string): ApiClient {
    return new ApiClient({
      url: this.url,
      ...(this.ca === undefined ? {} : { ca: this.ca }),
      token,
      timeoutMs: this.timeoutMs,
      maxResponseBytes: this.maxBytes,
    });
  }

  /** Sends one request; the answer is checked against `schema` when given. */
  async request<S extends z.ZodType>(method: string, path: string, options: RequestOptions & { schema: S }): Promise<z.infer<S>>;
  async request(method: string, path: string, options?: RequestOptions): Promise<unknown>;
  async request(method: string, path: string, options: RequestOptions & { schema?: z.ZodType } = {}): Promise<unknown> {
    const { status, text } = await this.send(method, path, options);
    return this.answer(method, path, status, text, options.schema);
  }

  /** Parses a JSON answer: an error body becomes an {@link ApiError}; a success is checked against `schema`. */
  private answer(method: string, path: string, status: number, text: string, schema: z.ZodType | undefined): unknown {
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new CliError(
        'BAD_RESPONSE',
        `The server answered ${status} with a body that is not JSON; is ${this.url} a Sightline server?`,
        EXIT.UNEXPECTED,
      );
    }
    if (status >= 400) {
      const e = api.errorResponse.safeParse(parsed);
      if (!e.success) throw new ApiError(status, `HTTP_${status}`, `The server answered ${status} without an error body.`);
      throw new ApiError(status, e.data.error.code, e.data.error.message, e.data.error.details);
    }
    if (schema === undefined) return parsed;
    const checked = schema.safeParse(parsed);
    if (!checked.success) {
      throw new CliError(
        'BAD_RESPONSE',
        `The server's answer to ${method} ${path} has an unexpected shape; the CLI and server versions may differ.`,
        EXIT.UNEXPECTED,
      );
    }
    return checked.data;
  }

  private headers(extra: Record<string, string | number>): Record<string, string | number> {
    return {
      accept: 'application/json',
      'user-agent': 'sightline-cli/0.1.0',
      ...extra,
      ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
    };
  }

  private tooLarge(): CliError {
    return new CliError(
      'RESPONSE_TOO_LARGE',
      `The server's answer is larger than ${this.maxBytes} bytes; refusing to read it.`,
      EXIT.UNEXPECTED,
    );
  }

  /** Reads a (JSON) response body, capped at maxResponseBytes. */
  private readBody(res: IncomingMessage, fail: (err: unknown) => void, done: (text: string) => void): void {
    if (Number(res.headers['content-length'] ?? 0) > this.maxBytes) return fail(this.tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.maxBytes) return fail(this.tooLarge());
      chunks.push(chunk);
    });
    res.on('error', fail);
    res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
  }

  private send(method: string, path: string, options: RequestOptions): Promise<{ status: number; text: string }> {
    const target = new URL(this.url + path);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(deadline);
        options.signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const fail = (err: unknown): void => {
        if (!finish()) return;
        req.destroy();
        reject(networkError(err, this.url));
      };
      const onAbort = (): void => fail(cancelled());
      const req = request(
        target,
        {
          method,
          agent: false,
          minVersion: 'TLSv1.2',
          ...(this.ca === undefined ? {} : { ca: this.ca }),
          headers: this.headers(
            payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          ),
        },
        (res) =>
          this.readBody(res, fail, (text) => {
            if (finish()) resolve({ status: res.statusCode ?? 0, text });
          }),
      );
      const deadline = setTimeout(
        () => fail(new CliError('SERVER_TIMEOUT', `${this.url} did not answer within ${timeoutMs / 1000} s.`, EXIT.UNREACHABLE)),
        timeoutMs,
      );
      req.on('error', fail);
      if (options.signal?.aborted === true) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      req.end(payload);
    });
  }

  /**
   * Streams `source` (exactly `length` bytes) as an application/octet-stream
   * body, with back-pressure, so memory does not grow with the size. There is
   * no overall deadline, only one on inactivity (`timeoutMs` without progress).
   * An error answer that arrives while the body is still going stops the
   * sending at once. `onSent` reports the bytes handed to the connection.
   */
  upload<S extends z.ZodType>(
    method: 'PUT' | 'POST',
    path: string,
    options: {
      source: Readable;
      length: number;
      headers?: Record<string, string>;
      schema: S;
      signal?: AbortSignal;
      onSent?: (bytes: number) => void;
    },
  ): Promise<z.infer<S>> {
    const { source, length } = options;
    return new Promise((resolve, reject) => {
      let settled = false;
      let answered = false;
      let sent = 0;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        source.destroy();
        return true;
      };
      const fail = (err: unknown): void => {
        if (!finish()) return;
        req.destroy();
        reject(networkError(err, this.url));
      };
      const onAbort = (): void => fail(cancelled());
      const req = request(
        new URL(this.url + path),
        {
          method,
          agent: false,
          minVersion: 'TLSv1.2',
          ...(this.ca === undefined ? {} : { ca: this.ca }),
          headers: this.headers({ ...options.headers, 'content-type': 'application/octet-stream', 'content-length': length }),
        },
        (res) => {
          answered = true;
          // An early answer is a refusal: stop sending (the rest would be read only to be thrown away).
          if (sent < length) source.destroy();
          this.readBody(res, fail, (text) => {
            if (!finish()) return;
            req.destroy();
            try {
              resolve(this.answer(method, path, res.statusCode ?? 0, text, options.schema) as z.infer<S>);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
        },
      );
      req.setTimeout(this.timeoutMs, () =>
        fail(new CliError('SERVER_TIMEOUT', `${this.url} made no progress for ${this.timeoutMs / 1000} s.`, EXIT.UNREACHABLE)),
      );
      req.on('error', (err) => {
        // The server answered early and closed the connection: its answer is what counts.
        if (!answered) fail(err);
      });
      if (options.signal?.aborted === true) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      source.on('data', (chunk: Buffer) => {
        if (answered || settled) return;
        sent += chunk.length;
        if (sent > length) return fail(changed());
        options.onSent?.(sent);
        if (!req.write(chunk)) source.pause();
      });
      req.on('drain', () => source.resume());
      source.on('end', () => {
        if (answered || settled) return;
        if (sent !== length) return fail(changed());
        req.end();
      });
      source.on('error', (err) => {
        if (!settled)
          fail(
            new CliError('FILE_UNREADABLE', `Reading the upload failed: ${(err as { code?: string }).code ?? err.message}.`, EXIT.INVALID, {
              cause: err,
            }),
          );
      });
    });
  }

  /**
   * Starts a download: resolves once the server has answered 200, with the
   * response to read (the caller checks length and digest as it reads). An
   * error answer becomes an {@link ApiError}. No overall deadline; the
   * response errors after `timeoutMs` without progress.
   */
  download(path: string, options: { signal?: AbortSignal } = {}): Promise<Download> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        req.destroy();
        reject(networkError(err, this.url));
      };
      const onAbort = (): void => fail(cancelled());
      const req = request(
        new URL(this.url + path),
        {
          method: 'GET',
          agent: false,
          minVersion: 'TLSv1.2',
          ...(this.ca === undefined ? {} : { ca: this.ca }),
          headers: this.headers({ accept: 'application/octet-stream, application/json' }),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            return this.readBody(res, fail, (text) => {
              if (settled) return;
              try {
                this.answer('GET', path, status, text, undefined);
                fail(new CliError('BAD_RESPONSE', `The server answered ${status} to a download.`, EXIT.UNEXPECTED));
              } catch (err) {
                fail(err);
              }
            });
          }
          settled = true;
          options.signal?.removeEventListener('abort', onAbort);
          const declared = res.headers['content-length'];
          const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
          const sha = res.headers['x-sightline-sha256'];
          resolve({
            body: res,
            length,
            sha256: typeof sha === 'string' && /^[0-9a-f]{64}$/i.test(sha) ? sha.toLowerCase() : undefined,
            cancel: () => req.destroy(),
          });
        },
      );
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new CliError('SERVER_TIMEOUT', `${this.url} made no progress for ${this.timeoutMs / 1000} s.`, EXIT.UNREACHABLE)),
      );
      req.on('error', fail);
      if (options.signal?.aborted === true) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      req.end();
    });
  }
}
