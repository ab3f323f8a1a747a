import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { isSightlineError, SightlineError } from '@sightline/core';
import type { Logger } from '../logging/logger.js';
import type { Store } from '../storage/store.js';
import { cookieSessionToken } from '../console/console-session.js';
import { mapError } from './error-mapper.js';
import { HttpError } from './http-error.js';
import { tlsSocketOf } from './listener.js';
import { Reply, StreamBody, type Principal, type RequestContext, type Route, type Router } from './router.js';
import { setSecurityHeaders } from './security-headers.js';

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const MAX_URL_BYTES = 4096;

export type AuthErrorCode =
  | 'AUTH_REQUIRED'
  | 'AUTH_INVALID'
  | 'MFA_ENROLLMENT_REQUIRED'
  | 'WRONG_API'
  | 'CERT_REQUIRED'
  | 'CERT_UNTRUSTED'
  | 'CERT_EXPIRED'
  | 'PROVISIONING_CERT_EXPIRED';
export class AuthError extends SightlineError<AuthErrorCode> {}

export interface Authenticator {
  /** Resolves a bearer token to a principal or throws AUTH_INVALID. */
  authenticate(token: string, sourceIp: string): Promise<Principal>;
}

/** Resolves a verified client certificate (by serial and SHA-256) to a device principal. */
export interface DeviceAuthenticator {
  principalForCert(serial: string, sha256: string): Promise<Principal>;
  /** The kind of a known certificate, to name an expired provisioning certificate as such. */
  certKind(serial: string): Promise<'provisioning' | 'operational' | undefined>;
}

export interface Authorizer {
  /** Throws ACCESS_DENIED unless the principal may do `action` on `resource`. */
  authorize(principal: Principal, action: string, resource: string, ctx: { sourceIp: string }): Promise<void>;
}

/** One record per API call; the audit trail (issue 3) persists it. */
export interface AuditRecord {
  requestId: string;
  time: number;
  principal: { type: Principal['type'] | 'anonymous'; id: string; name: string };
  action: string;
  resource: string;
  sourceIp: string;
  userAgent: string;
  outcome: 'allowed' | 'denied' | 'failed';
  errorCode?: string;
  parameters: Record<string, unknown>;
}

export interface AuditSink {
  /** Called inside the request's transaction; throwing fails the call. */
  record(event: AuditRecord): Promise<void>;
}

export interface PipelineDeps {
  router: Router;
  store: Store;
  authenticator: Authenticator;
  authorizer: Authorizer;
  devices?: DeviceAuthenticator;
  audit: AuditSink;
  logger: Logger;
  hstsMaxAgeSeconds: number;
  /** Time for audit events (frozen in tests). */
  now: () => number;
  /**
   * Every project-scoped route (`:project` in its path) names a project that
   * exists, or the call is refused before anything else runs.
   */
  projectExists: (project: string) => Promise<boolean>;
  /** Handles paths outside /api (the console's static files, later). */
  fallback?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      reject(new HttpError('BODY_TOO_LARGE', `The request body is larger than ${limit} bytes.`, { details: { limit } }));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError('BODY_TOO_LARGE', `The request body is larger than ${limit} bytes.`, { details: { limit } }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function checkRawBody(req: IncomingMessage, spec: NonNullable<Route['rawBody']>): void {
  const type = String(req.headers['content-type'] ?? '');
  if (type.split(';')[0]?.trim().toLowerCase() !== spec.contentType) {
    throw new HttpError('UNSUPPORTED_MEDIA_TYPE', `Send the body as ${spec.contentType}.`);
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > spec.maxBytes) {
    throw new HttpError('BODY_TOO_LARGE', `The upload is larger than ${spec.maxBytes} bytes.`, { details: { limit: spec.maxBytes } });
  }
}

/** Zod issues become VALIDATION_FAILED naming the path, or the validator's own code. */
function validate<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [where, ...(issue?.path ?? []).map(String)].join('.');
  const custom = issue?.code === 'custom' ? (issue.params as { code?: unknown } | undefined)?.code : undefined;
  if (typeof custom === 'string') {
    throw new SightlineError(custom, issue?.message ?? `${path} is not acceptable.`, { details: { field: path } });
  }
  throw new HttpError('VALIDATION_FAILED', `${path}: ${issue?.message ?? 'invalid value'}.`, { details: { field: path } });
}

function redact(body: unknown, secretFields: readonly string[]): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    // Named secret fields, and anything that looks like one as a second guard.
    out[k] = secretFields.includes(k) || /password|secret|token|totp|passphrase/i.test(k) ? '[redacted]' : v;
  }
  return out;
}

interface PeerCert {
  serial: string;
  sha256: string;
  /** The subject CN: the device name our CA put there (trusted only once the chain verified). */
  cn: string;
}

/** A TLS connection's client certificate never changes (renegotiation is off): decode it once per socket. */
const peerBySocket = new WeakMap<TLSSocket, PeerCert | null>();

function peerCertificate(req: IncomingMessage): PeerCert | undefined {
  const socket = tlsSocketOf(req);
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const known = peerBySocket.get(socket);
  if (known !== undefined) return known ?? undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const peer =
    cert === null || Object.keys(cert).length === 0 || cert.serialNumber === undefined
      ? null
      : { serial: cert.serialNumber.toLowerCase(), sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(), cn: (Array.isArray(cn) ? cn[0] : cn) ?? '' };
  peerBySocket.set(socket, peer);
  return peer ?? undefined;
}

/** mTLS: the TLS layer verified the chain against the internal CA; the device table decides the rest. */
async function authenticateDevice(deps: PipelineDeps, req: IncomingMessage, peer: PeerCert | undefined): Promise<Principal> {
  if (deps.devices === undefined || peer === undefined) {
    throw new AuthError('CERT_REQUIRED', 'The device API needs the device\'s client certificate (mTLS); people and API keys use /api/v1.');
  }
  const socket = tlsSocketOf(req);
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? '');
    if (reason === 'CERT_HAS_EXPIRED') {
      const kind = await deps.devices.certKind(peer.serial);
      if (kind === 'provisioning') {
        throw new AuthError('PROVISIONING_CERT_EXPIRED', 'The provisioning certificate in this archive has expired; provision the device anew.');
      }
      throw new AuthError('CERT_EXPIRED', 'This device certificate has expired.');
    }
    throw new AuthError('CERT_UNTRUSTED', 'This client certificate was not issued by this control plane\'s CA.');
  }
  return deps.devices.principalForCert(peer.serial, peer.sha256);
}

function sourceIpOf(req: IncomingMessage): string {
  const ip = tlsSocketOf(req).remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.statusCode = status;
  if (payload !== '') res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.end(payload);
}

function sendStream(res: ServerResponse, status: number, body: StreamBody): void {
  res.statusCode = status;
  res.setHeader('Content-Type', body.contentType);
  if (body.contentLength !== undefined) res.setHeader('Content-Length', body.contentLength);
  for (const [k, v] of Object.entries(body.headers)) res.setHeader(k, v);
  body.stream.on('error', () => res.destroy());
  res.on('close', () => body.stream.destroy());
  body.stream.pipe(res);
}

export function createRequestHandler(deps: PipelineDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(deps, req, res);
  };
}

async function handle(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomUUID();
  const started = performance.now();
  setSecurityHeaders(res, deps.hstsMaxAgeSeconds);
  res.setHeader('X-Request-Id', requestId);
  const sourceIp = sourceIpOf(req);
  const userAgent = String(req.headers['user-agent'] ?? '').slice(0, 256);
  // What the audit trail records, filled in as the request is understood.
  const audit: AuditRecord = {
    requestId,
    time: 0,
    principal: { type: 'anonymous', id: '', name: '' },
    action: 'api:Unknown',
    resource: '',
    sourceIp,
    userAgent,
    outcome: 'failed',
    parameters: {},
  };
  let route: Route | undefined;
  let authorized = false;
  const record = async (outcome: AuditRecord['outcome'], errorCode?: string): Promise<void> => {
    if (route?.auditAction === false) return;
    await deps.audit.record({ ...audit, time: deps.now(), outcome, ...(errorCode === undefined ? {} : { errorCode }) });
  };
  try {
    const rawUrl = req.url ?? '/';
    if (rawUrl.length > MAX_URL_BYTES) throw new HttpError('VALIDATION_FAILED', `The URL is longer than ${MAX_URL_BYTES} bytes.`);
    const url = new URL(rawUrl, 'https://sightline.invalid');
    if (!url.pathname.startsWith('/api/') && deps.fallback?.(req, res) === true) return;
    audit.resource = url.pathname.slice(0, 256);
    const matched = deps.router.match(req.method ?? 'GET', url.pathname);
    if (matched === undefined) throw new HttpError('NOT_FOUND', `No API route ${url.pathname}; see /api/v1/openapi.json.`);
    if (matched === 'method-not-allowed') throw new HttpError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${url.pathname}.`);
    route = matched.route;
    audit.action = route.action ?? (typeof route.auditAction === 'string' ? route.auditAction : `api:${route.method} ${route.path}`);

    let rawBody: unknown;
    if (route.body !== undefined) {
      const type = String(req.headers['content-type'] ?? '');
      if (!/^application\/json\s*(;|$)/i.test(type)) {
        throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.');
      }
      const buf = await readBody(req, route.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
      try {
        rawBody = buf.length === 0 ? {} : JSON.parse(buf.toString('utf8'));
      } catch (err) {
        throw new HttpError('BODY_NOT_JSON', 'The request body is not valid JSON.', { cause: err });
      }
    } else if (route.rawBody === undefined) {
      req.resume();
    }

    let principal: Principal | undefined;
    const peer = peerCertificate(req);
    if (route.auth === 'device') {
      // A chain our CA verified names the device even when its certificate is then refused
      // (revoked, expired): the trail records who was turned away.
      if (peer !== undefined && tlsSocketOf(req).authorized) audit.principal = { type: 'device', id: '', name: peer.cn.slice(0, 64) };
      principal = await authenticateDevice(deps, req, peer);
      audit.principal = { type: principal.type, id: principal.id, name: principal.name };
    } else if (peer !== undefined) {
      // Device certificates open the device API only (issue 5's matrix).
      throw new AuthError('WRONG_API', 'A device certificate cannot call the user API; devices use /device/v1.');
    } else if (route.auth !== 'public') {
      const header = req.headers.authorization ?? '';
      // The web console's HttpOnly cookie is the other way in (CSRF-checked there).
      const token = /^Bearer ([A-Za-z0-9_.~+/-]{10,512}=*)$/.exec(header)?.[1] ?? (header === '' ? cookieSessionToken(req) : undefined);
      if (token === undefined) throw new AuthError('AUTH_REQUIRED', 'Sign in first ("sightline login") or send an API key as a Bearer token.');
      principal = await deps.authenticator.authenticate(token, sourceIp);
      audit.principal = { type: principal.type, id: principal.id, name: principal.name };
      if (route.auth === 'authenticated' && principal.enrollmentOnly) {
        throw new AuthError('MFA_ENROLLMENT_REQUIRED', 'Finish TOTP enrollment before using the API: "sightline login" on a terminal walks you through it, or "sightline mfa confirm --code CODE" from a script.');
      }
    }

    // Only validated (and so screened) values reach the audit trail, secrets redacted.
    const query = route.query === undefined ? undefined : validate(route.query, Object.fromEntries(url.searchParams), 'query');
    const body = route.body === undefined ? undefined : validate(route.body, rawBody, 'body');
    const aborter = new AbortController();
    // 'close' follows every response; only one closed before it finished aborts the handler
    // (an abort builds a DOMException: not worth paying on every call).
    res.once('close', () => {
      if (!res.writableFinished) aborter.abort();
    });
    const ctx: RequestContext = { requestId, sourceIp, userAgent, principal, params: matched.params, body, query, headers: req.headers, signal: aborter.signal };
    if (route.rawBody !== undefined) {
      ctx.raw = req;
      const declared = req.headers['content-length'];
      if (declared !== undefined && /^\d+$/.test(declared)) ctx.rawLength = Number(declared);
    }
    audit.resource = route.resource?.(ctx) ?? audit.resource;
    const project = matched.params['project'];
    if (project !== undefined && !(await deps.projectExists(project))) {
      throw new SightlineError('PROJECT_NOT_FOUND', `No project named "${project.slice(0, 63)}"; see "sightline project list".`, { details: { field: 'project' } });
    }
    audit.parameters = { ...matched.params, ...redact(query, route.secretFields ?? []), ...redact(body, route.secretFields ?? []) };

    const active = route;
    // Reads change nothing, so they need no transaction of their own: only
    // their audit event is written, in a short one (keeps SQLite's single
    // writer free). Writes run in one transaction with their event.
    const inTransaction = active.transactional !== false && active.method !== 'GET';
    let recorded = false;
    if (!inTransaction) {
      ctx.commit = async (fn) => {
        if (recorded) throw new Error('ctx.commit may run once per call');
        await deps.store.transaction(async () => {
          await fn();
          await record('allowed');
        });
        recorded = true;
      };
    }
    const work = async (): Promise<unknown> => {
      if (active.action !== undefined && principal !== undefined) {
        await deps.authorizer.authorize(principal, active.action, audit.resource, { sourceIp });
      }
      authorized = true;
      // A raw body is looked at only once the caller may send one (401/403 before 415/413).
      if (active.rawBody !== undefined) checkRawBody(req, active.rawBody);
      const out = await active.handle(ctx);
      // Seed point 4 / fail closed: the event commits with the change, or neither does.
      if (inTransaction) await record('allowed');
      return out;
    };
    const result = inTransaction ? await deps.store.transaction(work) : await work();
    if (!inTransaction && !recorded) await deps.store.transaction(() => record('allowed'));
    if (result instanceof StreamBody) {
      sendStream(res, route.status ?? 200, result);
    } else if (result instanceof Reply) {
      for (const [k, v] of Object.entries(result.headers)) res.setHeader(k, v);
      send(res, result.status, result.status === 304 ? undefined : result.body);
    } else {
      send(res, route.status ?? 200, result);
    }
    deps.logger.debug('request', { requestId, route: route.path, status: route.status ?? 200, ms: Math.round(performance.now() - started) });
  } catch (err) {
    let mapped = mapError(err, requestId);
    // Reaching here means the request's transaction did not commit (its event went with it),
    // so the failure itself is recorded now, in a transaction of its own.
    if (route?.auditAction !== false) {
      const outcome = !authorized && isSightlineError(err) && err.code === 'ACCESS_DENIED' ? 'denied' : 'failed';
      try {
        await deps.store.transaction(() => record(outcome, mapped.body.error.code));
      } catch (auditErr) {
        // Fail closed (seed point 4): a call that cannot be audited does not succeed quietly.
        deps.logger.error('audit write failed', { requestId, error: describe(auditErr) });
        mapped = {
          status: 503,
          body: { error: { code: 'AUDIT_UNAVAILABLE', message: `The audit trail could not record this call, so it was refused; quote request id ${requestId}.` } },
        };
      }
    }
    if (mapped.status >= 500) deps.logger.error('request failed', { requestId, route: route?.path, error: describe(err) });
    if (mapped.status === 423 && isSightlineError(err) && typeof err.details?.['retryAfterSeconds'] === 'number') {
      res.setHeader('Retry-After', String(err.details['retryAfterSeconds']));
    }
    if (!res.headersSent) send(res, mapped.status, mapped.body);
  }
}

function describe(err: unknown): string {
  if (isSightlineError(err)) return err.code;
  return err instanceof Error ? `${err.name}: ${err.message}` : 'unknown error';
}
