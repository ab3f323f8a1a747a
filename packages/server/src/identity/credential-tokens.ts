import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer tokens are 256 random bits. Only their SHA-256 is stored (seed
 * point 3: API keys hashed at rest): a database leak yields nothing usable,
 * and a fast hash is enough for values with that much entropy.
 */
export const SESSION_PREFIX = 'sls_';
export const APIKEY_PREFIX = 'slk_';

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newSessionToken(): string {
  return `${SESSION_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** `slk_<key id>_<secret>`: the id finds the row, the hash of the whole token proves possession. */
export function newApiKeyToken(id: string): string {
  return `${APIKEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
}

export function apiKeyIdOf(token: string): string | undefined {
  return /^slk_([a-f0-9]{24})_[A-Za-z0-9_-]{43}$/.exec(token)?.[1];
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
