import { createHash, randomBytes } from 'node:crypto';
import type { CameraCredentials } from '../credentials.js';
import { CameraError } from '../errors.js';

/** One challenge from a `WWW-Authenticate` header (RFC 7235 4.1). */
export interface Challenge {
  readonly scheme: string;
  /** Parameter names in lower case. */
  readonly params: ReadonlyMap<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

function authProtocolError(what: string): CameraError {
  return new CameraError('RTSP_PROTOCOL_ERROR', `The camera sent a malformed authentication challenge: ${what}.`);
}

/**
 * Parses the values of all `WWW-Authenticate` headers. One value may hold
 * several challenges separated by commas (RFC 7235 4.1), so a new challenge
 * starts at a token that is not followed by `=`.
 */
export function parseChallenges(values: readonly string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of values) {
    let s = value;
    let current: { scheme: string; params: Map<string, string> } | undefined;
    while (s.length > 0) {
      s = s.replace(/^[\s,]+/, '');
      if (s.length === 0) break;
      const tok = TOKEN.exec(s)?.[0];
      if (tok === undefined) throw authProtocolError('expected a token');
      const after = s.slice(tok.length).replace(/^\s*/, '');
      if (after.startsWith('=') && current !== undefined && !/^=+\s*(,|$)/.test(after)) {
        // auth-param: name = token / quoted-string
        let rest = after.slice(1).replace(/^\s*/, '');
        let val: string;
        if (rest.startsWith('"')) {
          let i = 1;
          val = '';
          for (; i < rest.length; i++) {
            const c = rest[i];
            if (c === '\\') {
              val += rest[++i] ?? '';
            } else if (c === '"') break;
            else val += c;
          }
          if (i >= rest.length) throw authProtocolError('an unterminated quoted string');
          rest = rest.slice(i + 1);
        } else {
          val = TOKEN.exec(rest)?.[0] ?? '';
          rest = rest.slice(val.length);
        }
        current.params.set(tok.toLowerCase(), val);
        s = rest;
      } else {
        // A new challenge: scheme [token68 | params]. A token68 (Basic's old form) is kept as-is.
        current = { scheme: tok.toLowerCase(), params: new Map() };
        out.push(current);
        s = after.startsWith('=') ? after.replace(/^=+/, '') : after;
      }
      if (out.length > 16) throw authProtocolError('more than 16 challenges');
    }
  }
  return out;
}

function randomCnonce(): string {
  return randomBytes(16).toString('hex');
}

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

const DIGEST_RANK: Record<DigestAlgorithm, number> = { 'SHA-256': 4, 'SHA-256-sess': 3, MD5: 2, 'MD5-sess': 1 };

function digestAlgorithm(params: ReadonlyMap<string, string>): DigestAlgorithm | undefined {
  const a = (params.get('algorithm') ?? 'MD5').toUpperCase();
  if (a === 'MD5') return 'MD5';
  if (a === 'MD5-SESS') return 'MD5-sess';
  if (a === 'SHA-256') return 'SHA-256';
  if (a === 'SHA-256-SESS') return 'SHA-256-sess';
  return undefined;
}

/** What `chooseAuthenticator` needs to decide. */
export interface AuthPolicy {
  /** The connection is TLS (rtsps://). */
  readonly secure: boolean;
  /** Allow Basic over plain rtsp:// (off by default: the password crosses the network in base64). */
  readonly allowBasicOverPlaintext: boolean;
}

/** Produces the `Authorization` header for each request. */
export interface Authenticator {
  readonly scheme: 'basic' | 'digest';
  authorization(method: string, uri: string): string;
}

/**
 * Picks the strongest challenge this client can answer: Digest SHA-256, then
 * Digest MD5, then Basic (RFC 7616 3.7: a client picks the strongest
 * algorithm offered; a downgrade to Basic is refused over plain RTSP unless
 * allowed).
 */
export function chooseAuthenticator(
  challenges: readonly Challenge[],
  credentials: CameraCredentials,
  policy: AuthPolicy,
  makeCnonce: () => string = randomCnonce,
): Authenticator {
  let best: { alg: DigestAlgorithm; c: Challenge } | undefined;
  for (const c of challenges) {
    if (c.scheme !== 'digest') continue;
    const alg = digestAlgorithm(c.params);
    if (alg === undefined) continue;
    const qop = c.params.get('qop');
    // RFC 7616 3.3: qop is a list; this client implements "auth" (not auth-int) or none (RFC 2069).
    if (qop !== undefined && !qop.split(',').some((q) => q.trim().toLowerCase() === 'auth')) continue;
    if (best === undefined || DIGEST_RANK[alg] > DIGEST_RANK[best.alg]) best = { alg, c };
  }
  if (best !== undefined) return new DigestAuthenticator(best.c, best.alg, credentials, makeCnonce);
  if (challenges.some((c) => c.scheme === 'basic')) {
    if (!policy.secure && !policy.allowBasicOverPlaintext) {
      throw new CameraError(
        'RTSP_AUTH_INSECURE',
        'The camera only offers Basic authentication over plain rtsp://, which would send the password readable on the network. Use rtsps://, enable Digest authentication on the camera, or allow Basic over plain RTSP for this camera explicitly.',
      );
    }
    return new BasicAuthenticator(credentials);
  }
  throw new CameraError(
    'RTSP_AUTH_FAILED',
    'The camera asks for an authentication scheme Sightline does not support (it supports Digest MD5/SHA-256 and Basic).',
    {
      details: { schemes: challenges.map((c) => c.scheme.slice(0, 32)) },
    },
  );
}

/** RFC 7617. */
class BasicAuthenticator implements Authenticator {
  readonly scheme = 'basic';
  readonly #value: string;
  constructor(credentials: CameraCredentials) {
    this.#value = `Basic ${Buffer.concat([Buffer.from(`${credentials.username}:`, 'utf8'), credentials.passwordBytes()]).toString('base64')}`;
  }
  authorization(): string {
    return this.#value;
  }
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A value from the camera that goes back into our request: no controls, bounded. */
function checkEcho(name: string, value: string | undefined, max = 1024): string | undefined {
  if (value === undefined) return undefined;
  if (value.length > max || /[\x00-\x1f\x7f]/.test(value))
    throw authProtocolError(`the ${name} parameter is too long or has control characters`);
  return value;
}

/** RFC 7616 (and RFC 2617 / RFC 2069 without qop). */
export class DigestAuthenticator implements Authenticator {
  readonly scheme = 'digest';
  readonly #credentials: CameraCredentials;
  readonly #hash: 'md5' | 'sha256';
  readonly #sess: boolean;
  readonly #algorithmName: string | undefined;
  readonly #realm: string;
  readonly #nonce: string;
  readonly #opaque: string | undefined;
  readonly #qop: 'auth' | undefined;
  readonly #userhash: boolean;
  readonly #makeCnonce: () => string;
  #nc = 0;
  #ha1: string | undefined;
  #cnonce: string | undefined;

  constructor(challenge: Challenge, algorithm: DigestAlgorithm, credentials: CameraCredentials, makeCnonce: () => string = randomCnonce) {
    this.#credentials = credentials;
    this.#hash = algorithm.startsWith('SHA-256') ? 'sha256' : 'md5';
    this.#sess = algorithm.endsWith('-sess');
    this.#algorithmName = challenge.params.get('algorithm') === undefined ? undefined : algorithm;
    const realm = checkEcho('realm', challenge.params.get('realm'));
    const nonce = checkEcho('nonce', challenge.params.get('nonce'));
    if (realm === undefined || nonce === undefined || nonce === '') throw authProtocolError('a Digest challenge without realm or nonce');
    this.#realm = realm;
    this.#nonce = nonce;
    this.#opaque = checkEcho('opaque', challenge.params.get('opaque'));
    this.#qop = challenge.params.get('qop') === undefined ? undefined : 'auth';
    this.#userhash = (challenge.params.get('userhash') ?? '').toLowerCase() === 'true';
    this.#makeCnonce = makeCnonce;
  }

  private h(...parts: (string | Buffer)[]): string {
    const hash = createHash(this.#hash);
    parts.forEach((p, i) => {
      if (i > 0) hash.update(':');
      hash.update(p);
    });
    return hash.digest('hex');
  }

  authorization(method: string, uri: string): string {
    this.#nc++;
    const nc = this.#nc.toString(16).padStart(8, '0');
    this.#cnonce ??= this.#makeCnonce();
    const cnonce = this.#cnonce;
    // RFC 7616 3.4.2: A1 = user:realm:password; for -sess, H(A1):nonce:cnonce, computed once.
    if (this.#ha1 === undefined) {
      const base = this.h(this.#credentials.username, this.#realm, this.#credentials.passwordBytes());
      this.#ha1 = this.#sess ? this.h(base, this.#nonce, cnonce) : base;
    }
    // RFC 7616 3.4.3: A2 = method:uri (qop=auth).
    const ha2 = this.h(method, uri);
    const response =
      this.#qop === undefined ? this.h(this.#ha1, this.#nonce, ha2) : this.h(this.#ha1, this.#nonce, nc, cnonce, this.#qop, ha2);
    // RFC 7616 3.4.4: with userhash, the username field is H(user:realm).
    const username = this.#userhash ? this.h(this.#credentials.username, this.#realm) : this.#credentials.username;
    const fields = [
      `username=${quoted(username)}`,
      `realm=${quoted(this.#realm)}`,
      `nonce=${quoted(this.#nonce)}`,
      `uri=${quoted(uri)}`,
      `response=${quoted(response)}`,
    ];
    if (this.#algorithmName !== undefined) fields.push(`algorithm=${this.#algorithmName}`);
    if (this.#opaque !== undefined) fields.push(`opaque=${quoted(this.#opaque)}`);
    if (this.#qop !== undefined) fields.push(`qop=${this.#qop}`, `nc=${nc}`, `cnonce=${quoted(cnonce)}`);
    if (this.#userhash) fields.push('userhash=true');
    return `Digest ${fields.join(', ')}`;
  }
}
