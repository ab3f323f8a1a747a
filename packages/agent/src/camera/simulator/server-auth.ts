import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseChallenges } from '../rtsp/auth.js';

/**
 * Server side of RTSP authentication for the built-in camera simulator:
 * Digest (RFC 2617, MD5, as cameras offer it) or Basic (RFC 7617). Nonces
 * are stateless: the issue time and an HMAC of it under a key made at start,
 * so a forged or altered nonce fails and an old one is answered `stale=true`.
 */

export type AuthVerdict = 'ok' | 'missing' | 'wrong' | 'stale';

export interface ServerCredentials {
  readonly username: string;
  readonly password: string;
  readonly method?: 'digest' | 'basic';
}

function md5(...parts: (string | Buffer)[]): string {
  const h = createHash('md5');
  parts.forEach((p, i) => {
    if (i > 0) h.update(':');
    h.update(p);
  });
  return h.digest('hex');
}

/** Compares secrets in constant time whatever their lengths (hashing first). */
function sameSecret(a: string | Buffer, b: string | Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export class RtspServerAuth {
  readonly method: 'digest' | 'basic';
  readonly #username: string;
  /** Digest: H(A1) = MD5(user:realm:password); the password itself is not kept. */
  readonly #ha1: string;
  /** Basic: the expected `user:password` bytes. */
  readonly #basic: Buffer;
  readonly #key = randomBytes(32);

  constructor(
    credentials: ServerCredentials,
    readonly realm: string,
    private readonly nonceLifetimeMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.method = credentials.method ?? 'digest';
    this.#username = credentials.username;
    this.#ha1 = md5(credentials.username, realm, credentials.password);
    this.#basic = this.method === 'basic' ? Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8') : Buffer.alloc(0);
  }

  /** The `WWW-Authenticate` value of a 401 reply. */
  challenge(stale = false): string {
    if (this.method === 'basic') return `Basic realm=${quote(this.realm)}`;
    return `Digest realm=${quote(this.realm)}, nonce=${quote(this.nonce())}, algorithm=MD5, qop="auth"${stale ? ', stale=true' : ''}`;
  }

  private nonce(): string {
    const issued = this.now().toString(16);
    return `${issued}${this.mac(issued)}`;
  }

  private mac(issued: string): string {
    return createHmac('sha256', this.#key).update(issued).digest('hex').slice(0, 32);
  }

  /** Checks an `Authorization` header against the request's method and URI. */
  check(method: string, uri: string, header: string | undefined): AuthVerdict {
    if (header === undefined || header.length === 0) return 'missing';
    if (header.length > 4096) return 'wrong';
    if (this.method === 'basic') {
      const m = /^Basic\s+([A-Za-z0-9+/]{1,2048}={0,2})$/i.exec(header.trim());
      if (m === null) return 'wrong';
      return sameSecret(Buffer.from(m[1] ?? '', 'base64'), this.#basic) ? 'ok' : 'wrong';
    }
    let params: ReadonlyMap<string, string>;
    try {
      const [c, ...more] = parseChallenges([header]);
      if (c === undefined || more.length > 0 || c.scheme !== 'digest') return 'wrong';
      params = c.params;
    } catch {
      return 'wrong';
    }
    const username = params.get('username');
    const nonce = params.get('nonce') ?? '';
    const response = params.get('response') ?? '';
    // RFC 2617 3.2.2: username, realm, nonce, uri and response are required; uri names the request's URI.
    if (username === undefined || params.get('realm') !== this.realm || params.get('uri') !== uri) return 'wrong';
    const algorithm = params.get('algorithm');
    if (algorithm !== undefined && algorithm.toUpperCase() !== 'MD5') return 'wrong';
    if (!/^[0-9a-f]{32}$/i.test(response)) return 'wrong';
    // The nonce is ours: issue time (hex) then 32 hex of HMAC.
    const nm = /^([0-9a-f]{1,13})([0-9a-f]{32})$/.exec(nonce);
    if (nm === null || !sameSecret(nm[2] ?? '', this.mac(nm[1] ?? ''))) return 'wrong';
    const ha2 = md5(method, uri);
    const qop = params.get('qop');
    let expected: string;
    if (qop === undefined) {
      // RFC 2617 3.2.2.1: without qop, the RFC 2069 form.
      expected = md5(this.#ha1, nonce, ha2);
    } else {
      const nc = params.get('nc') ?? '';
      const cnonce = params.get('cnonce') ?? '';
      if (qop !== 'auth' || !/^[0-9a-f]{8}$/i.test(nc) || cnonce === '' || cnonce.length > 256) return 'wrong';
      expected = md5(this.#ha1, nonce, nc, cnonce, qop, ha2);
    }
    if (!sameSecret(username, this.#username) || !sameSecret(response.toLowerCase(), expected)) return 'wrong';
    // Right credentials on an expired nonce: RFC 2617 3.2.1 stale=true, the client retries without asking the user.
    const issued = parseInt(nm[1] ?? '0', 16);
    if (this.now() - issued > this.nonceLifetimeMs) return 'stale';
    return 'ok';
  }
}
