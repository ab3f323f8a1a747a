import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { SightlineError } from '@sightline/core';
import { hostOf } from '../http/listener.js';
import { SESSION_PREFIX } from '../identity/credential-tokens.js';

/**
 * The web console's session: the same session token the CLI gets, held in a
 * cookie the page's scripts cannot read (HttpOnly), sent only over HTTPS
 * (Secure), only to this origin and never on cross-site requests
 * (`__Host-` prefix, Path=/, no Domain, SameSite=Strict).
 */
export const SESSION_COOKIE = '__Host-sightline_session';
/** The header a state-changing console request echoes its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

const MAX_COOKIE_HEADER = 8192;
const TOKEN_SHAPE = /^sls_[A-Za-z0-9_-]{20,128}$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const CSRF_LABEL = 'sightline-console-csrf/v1';

export type ConsoleErrorCode = 'CSRF_REFUSED' | 'CONSOLE_UNAVAILABLE';
export class ConsoleError extends SightlineError<ConsoleErrorCode> {}

/** One cookie's value from the Cookie header; undefined when absent or oversized. */
export function cookieValue(headers: IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const raw = headers['cookie'];
  const header = Array.isArray(raw) ? raw.join('; ') : (raw ?? '');
  if (header === '' || header.length > MAX_COOKIE_HEADER) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The CSRF token of a session: an HMAC keyed by the session token itself
 * (OWASP "signed double-submit" variant). Only a script that was handed it by
 * this origin knows it; a cross-site page can neither read the HttpOnly cookie
 * nor compute the token, so no server-side state is needed.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update(CSRF_LABEL).digest('base64url');
}

function refuse(message: string): never {
  throw new ConsoleError('CSRF_REFUSED', message);
}

/**
 * Fetch metadata and Origin, when the browser sends them, must name this
 * origin (OWASP CSRF cheat sheet: verify the source origin). Used for every
 * state-changing cookie request and for the console sign-in (login CSRF).
 */
export function assertSameOrigin(headers: Readonly<Record<string, string | string[] | undefined>>): void {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') refuse('This request came from another site; the console only accepts its own pages\' requests.');
  const origin = headers['origin'];
  if (origin !== undefined) {
    const host = hostOf(headers);
    if (origin !== `https://${host}`) refuse('The request\'s Origin is not this console\'s origin.');
  }
}

/**
 * The pipeline's hook: the session token from the console cookie, or
 * undefined when there is none. A state-changing request authenticated by
 * the cookie must carry the session's CSRF token in X-CSRF-Token (compared in
 * constant time) and come from this origin, or it is refused with 403
 * CSRF_REFUSED before anything runs. Bearer callers never reach this.
 */
export function cookieSessionToken(req: IncomingMessage): string | undefined {
  const token = cookieValue(req.headers, SESSION_COOKIE);
  if (token === undefined || !token.startsWith(SESSION_PREFIX) || !TOKEN_SHAPE.test(token)) return undefined;
  if (!SAFE_METHODS.has(req.method ?? 'GET')) {
    assertSameOrigin(req.headers);
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || sent === '') refuse('Send the console\'s CSRF token in the X-CSRF-Token header; reload the console if this persists.');
    const expected = Buffer.from(csrfTokenFor(token));
    const given = Buffer.from(sent);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) refuse('The X-CSRF-Token header does not match this session; reload the console.');
  }
  return token;
}

/** Set-Cookie for a new session, living as long as the session does. */
export function sessionCookie(token: string, expiresAt: string, now: number): string {
  const maxAge = Math.max(0, Math.floor((Date.parse(expiresAt) - now) / 1000));
  return `${SESSION_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`;
}

/** Set-Cookie that removes the session cookie (logout). */
export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
}
