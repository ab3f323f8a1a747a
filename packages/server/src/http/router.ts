import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { HttpError } from './http-error.js';

/** Who is calling. Devices arrive with the device API (a later part). */
export interface Principal {
  type: 'user' | 'apikey' | 'device';
  id: string;
  name: string;
  /** The session behind a user principal (logout ends it). */
  sessionId?: string;
  /** The human behind a session or an API key. */
  userId: string;
  /** True only for a session that passed TOTP in this login. */
  mfaPresent: boolean;
  /** A session that may only finish MFA enrollment. */
  enrollmentOnly: boolean;
  /** API keys: the key's own policy, intersected with its owner's. */
  keyPolicy?: string | null;
}

export interface RequestContext<B = unknown, Q = unknown> {
  requestId: string;
  sourceIp: string;
  userAgent: string;
  principal: Principal | undefined;
  params: Readonly<Record<string, string>>;
  body: B;
  query: Q;
  /** Request headers, for the few routes that read one (If-None-Match). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Aborts when the client goes away (long-polls stop waiting). */
  signal: AbortSignal;
  /** The request body as a stream, for routes declared with `rawBody`. */
  raw?: Readable;
  /** Declared length of a raw body, when the client sent Content-Length. */
  rawLength?: number;
  /**
   * For `transactional: false` routes: runs `fn` in one transaction with the
   * call's "allowed" audit event, so a change and its event commit together
   * or not at all (seed point 4). Use it once, for the short final write of a
   * long call (an upload's row); without it the pipeline records the event
   * alone after the handler returns.
   */
  commit?: (fn: () => Promise<void>) => Promise<void>;
}

/** A handler returns this for a status other than the route's, or extra headers (304, ETag). */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

/**
 * A handler returns this to stream a response (artifact downloads) instead
 * of JSON. The pipeline pipes it and destroys it if the client goes away.
 */
export class StreamBody {
  constructor(
    readonly stream: Readable,
    readonly contentType: string,
    readonly contentLength?: number,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * - `public`: no credentials (login, health, OpenAPI);
 * - `enrollment`: a session that still has to enroll TOTP, or a full one;
 * - `authenticated`: a full session or an API key; `action` then decides;
 * - `device`: a device's client certificate (mTLS), provisioning or operational.
 */
export type RouteAuth = 'public' | 'enrollment' | 'authenticated' | 'device';

export interface Route<B = unknown, Q = unknown, R = unknown> {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  /** The policy action checked before the handler runs. */
  action?: string;
  /**
   * The action name recorded in the audit trail for routes without a policy
   * action (sign-in, logout, …); `false` for the few public, data-free reads
   * that are not audited (health, OpenAPI, the audit public key).
   */
  auditAction?: string | false;
  /** The SRN the action applies to; defaults to the catalogue's global SRN. */
  resource?: (ctx: RequestContext<B, Q>) => string;
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  response?: z.ZodType<R>;
  maxBodyBytes?: number;
  /**
   * Stream the request body to the handler (`ctx.raw`) instead of parsing
   * JSON: for uploads. The handler enforces `maxBytes` as it reads.
   */
  rawBody?: { contentType: string; maxBytes: number };
  /** The content type of a streamed (StreamBody) success answer, for the OpenAPI document. */
  produces?: string;
  status?: number;
  /**
   * false: the handler manages its own transactions (login must keep its
   * failure count even though the call fails).
   */
  transactional?: boolean;
  /** Body fields whose values never reach the audit trail or logs. */
  secretFields?: readonly string[];
  /** The body (checked against `response` in OpenAPI), or a Reply/StreamBody for special answers. */
  handle(ctx: RequestContext<B, Q>): Promise<R | Reply | StreamBody>;
}

/**
 * Type-checks a route against its own schemas, then erases the generics so
 * routes of different shapes sit in one table. Safe because the pipeline
 * only ever hands a handler the output of that route's own schemas.
 */
export function defineRoute<B = undefined, Q = undefined, R = unknown>(route: Route<B, Q, R>): Route {
  return route as unknown as Route;
}

interface Compiled {
  route: Route;
  regex: RegExp;
  keys: string[];
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch (cause) {
    throw new HttpError('VALIDATION_FAILED', 'The URL path has a malformed %-escape.', { cause });
  }
}

/**
 * Matches `/api/v1/users/:name` style paths; segment values are URL-decoded.
 * `:name+` takes one or more whole segments (`models/blazeface/1.0.onnx`),
 * each decoded on its own; routes are tried in order, so put a more specific
 * route (`:name+/content`) before a bare `:name+`.
 */
export class Router {
  private readonly compiled: Compiled[] = [];

  constructor(readonly routes: readonly Route[]) {
    for (const route of routes) {
      const keys: string[] = [];
      const pattern = route.path.replace(/:([a-zA-Z]+)(\+?)/g, (_m, key: string, many: string) => {
        keys.push(key);
        // `+` takes the rest (empty segments included, so the route can name the fault, not 404).
        return many === '+' ? '(.+)' : '([^/]+)';
      });
      this.compiled.push({ route, regex: new RegExp(`^${pattern}$`), keys });
    }
  }

  match(method: string, path: string): { route: Route; params: Record<string, string> } | 'method-not-allowed' | undefined {
    let pathMatched = false;
    for (const c of this.compiled) {
      const m = c.regex.exec(path);
      if (m === null) continue;
      pathMatched = true;
      if (c.route.method !== method) continue;
      const params: Record<string, string> = {};
      c.keys.forEach((k, i) => {
        params[k] = (m[i + 1] ?? '').split('/').map(decodeSegment).join('/');
      });
      return { route: c.route, params };
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}
