import { request } from 'node:https';
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
function networkError(err: unknown, url: string): CliError {
  if (err instanceof CliError) return err;
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
  async request<S extends z.ZodType>(method: string, path: string, options: { body?: unknown; schema: S }): Promise<z.infer<S>>;
  async request(method: string, path: string, options?: { body?: unknown }): Promise<unknown>;
  async request(method: string, path: string, options: { body?: unknown; schema?: z.ZodType } = {}): Promise<unknown> {
    const { status, text } = await this.send(method, path, options.body);
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
    if (options.schema === undefined) return parsed;
    const checked = options.schema.safeParse(parsed);
    if (!checked.success) {
      throw new CliError(
        'BAD_RESPONSE',
        `The server's answer to ${method} ${path} has an unexpected shape; the CLI and server versions may differ.`,
        EXIT.UNEXPECTED,
      );
    }
    return checked.data;
  }

  private send(method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
    const target = new URL(this.url + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        req.destroy();
        reject(networkError(err, this.url));
      };
      const req = request(
        target,
        {
          method,
          agent: false,
          minVersion: 'TLSv1.2',
          ...(this.ca === undefined ? {} : { ca: this.ca }),
          headers: {
            accept: 'application/json',
            'user-agent': 'sightline-cli/0.1.0',
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
            ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
          },
        },
        (res) => {
          const tooLarge = (): CliError =>
            new CliError(
              'RESPONSE_TOO_LARGE',
              `The server's answer is larger than ${this.maxBytes} bytes; refusing to read it.`,
              EXIT.UNEXPECTED,
            );
          if (Number(res.headers['content-length'] ?? 0) > this.maxBytes) return fail(tooLarge());
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxBytes) return fail(tooLarge());
            chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(deadline);
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      const deadline = setTimeout(
        () => fail(new CliError('SERVER_TIMEOUT', `${this.url} did not answer within ${this.timeoutMs / 1000} s.`, EXIT.UNREACHABLE)),
        this.timeoutMs,
      );
      req.on('error', fail);
      req.end(payload);
    });
  }
}
