import { z } from 'zod';
import { api } from '@sightline/protocol';
import type { Clock } from '../clock.js';
import { defineRoute, Reply, type Principal, type Route } from '../http/router.js';
import type { AuthService, LoginResult } from '../identity/auth.service.js';
import { screenedName } from '../identity/identity.routes.js';
import { assertSameOrigin, clearedSessionCookie, cookieValue, csrfTokenFor, SESSION_COOKIE, sessionCookie } from './console-session.js';

/** What the console learns at sign-in: never the token itself (it stays in the HttpOnly cookie). */
const consoleSessionResponse = z.object({
  scope: z.enum(['full', 'mfa-enroll']),
  expiresAt: z.string(),
  mfaPresent: z.boolean(),
  csrfToken: z.string(),
});

const sessionView = z.object({
  user: z.string(),
  scope: z.enum(['full', 'mfa-enroll']),
  mfaPresent: z.boolean(),
  /** Null when the caller used a bearer token rather than the console cookie. */
  csrfToken: z.string().nullable(),
});

function me(p: Principal | undefined): Principal {
  if (p === undefined) throw new Error('route requires a principal');
  return p;
}

function withCookie(result: LoginResult, now: number): Reply {
  const body: z.infer<typeof consoleSessionResponse> = { scope: result.scope, expiresAt: result.expiresAt, mfaPresent: result.mfaPresent, csrfToken: csrfTokenFor(result.token) };
  return new Reply(200, body, { 'Set-Cookie': sessionCookie(result.token, result.expiresAt, now) });
}

/**
 * Cookie variants of sign-in, MFA confirmation and sign-out for the web
 * console (issue 8). They reuse AuthService; the bearer routes are unchanged.
 */
export function consoleRoutes(auth: AuthService, clock: Clock): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/console/login',
      auditAction: 'auth:Login',
      tag: 'auth',
      summary: 'Console sign-in with password and TOTP: the session goes into an HttpOnly, Secure, SameSite=Strict cookie; returns its CSRF token',
      auth: 'public',
      transactional: false,
      body: api.loginRequest,
      response: consoleSessionResponse,
      resource: (ctx) => `srn:sightline::user/${screenedName(ctx.body.user)}`,
      secretFields: ['password', 'totp', 'user'],
      handle: async (ctx) => {
        // Login CSRF: a foreign page must not sign the browser into someone else's account.
        assertSameOrigin(ctx.headers);
        return withCookie(await auth.login(ctx.body.user, ctx.body.password, ctx.body.totp, ctx.sourceIp), clock.now());
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/console/mfa/confirm',
      auditAction: 'auth:ConfirmMfa',
      tag: 'auth',
      summary: 'Console: confirm TOTP enrollment with a first code; the cookie then holds a full session',
      auth: 'enrollment',
      body: api.mfaConfirmRequest,
      response: consoleSessionResponse,
      secretFields: ['code'],
      handle: async (ctx) => withCookie(await auth.confirmEnrollment(me(ctx.principal), ctx.body.code, ctx.sourceIp), clock.now()),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/auth/console/session',
      auditAction: 'auth:ConsoleSession',
      tag: 'auth',
      summary: 'Console: who is signed in by the cookie, and the session\'s CSRF token for state-changing calls',
      auth: 'enrollment',
      response: sessionView,
      handle: (ctx) => {
        const p = me(ctx.principal);
        const token = cookieValue(ctx.headers, SESSION_COOKIE);
        const viaCookie = token !== undefined && ctx.headers['authorization'] === undefined;
        return Promise.resolve({ user: p.name, scope: p.enrollmentOnly ? ('mfa-enroll' as const) : ('full' as const), mfaPresent: p.mfaPresent, csrfToken: viaCookie ? csrfTokenFor(token) : null });
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/console/logout',
      auditAction: 'auth:Logout',
      tag: 'auth',
      summary: 'Console: end this session and clear its cookie',
      auth: 'enrollment',
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await auth.logout(me(ctx.principal));
        return new Reply(200, { ok: true }, { 'Set-Cookie': clearedSessionCookie() });
      },
    }),
  ];
}
