import { createRequire } from 'node:module';
import { getFips, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { SightlineError } from '@sightline/core';

export type PasswordErrorCode = 'PASSWORD_REJECTED';
export class PasswordError extends SightlineError<PasswordErrorCode> {}

/**
 * NIST SP 800-63B rev 4, 3.1.1.2: at least 15 characters when the password is
 * the only factor, at least 8 when it is one factor of MFA; at least 64
 * allowed; no composition rules; compare against a blocklist of common and
 * context-specific values. Lengths count Unicode code points (NFKC).
 */
export const PASSWORD_MIN_SINGLE_FACTOR = 15;
export const PASSWORD_MIN_WITH_MFA = 8;
export const PASSWORD_MAX = 256;

let blocklist: Set<string> | undefined;
function commonPasswords(): Set<string> {
  if (blocklist === undefined) {
    // The 49k-entry common-password list that zxcvbn-ts ships (MIT), loaded once.
    const require = createRequire(import.meta.url);
    const lang = require('@zxcvbn-ts/language-common') as { dictionary: Record<string, string[]> };
    blocklist = new Set((lang.dictionary['passwords-common'] ?? []).map((p) => p.toLowerCase()));
    if (blocklist.size < 10000) throw new Error('common password list failed to load');
  }
  return blocklist;
}

export function checkPassword(password: string, opts: { mfa: boolean; userName: string }): void {
  const normalised = password.normalize('NFKC');
  const length = [...normalised].length;
  const min = opts.mfa ? PASSWORD_MIN_WITH_MFA : PASSWORD_MIN_SINGLE_FACTOR;
  if (length < min) {
    throw new PasswordError(
      'PASSWORD_REJECTED',
      `The password must be at least ${min} characters${opts.mfa ? '' : ' when it is the only sign-in factor'}; a passphrase of several words is easiest.`,
      { details: { reason: 'too-short', minimum: min } },
    );
  }
  if (length > PASSWORD_MAX) {
    throw new PasswordError('PASSWORD_REJECTED', `The password must be at most ${PASSWORD_MAX} characters.`, { details: { reason: 'too-long', maximum: PASSWORD_MAX } });
  }
  const lower = normalised.toLowerCase();
  if (commonPasswords().has(lower)) {
    throw new PasswordError('PASSWORD_REJECTED', 'That password is on the list of commonly used passwords; choose another.', { details: { reason: 'common' } });
  }
  const name = opts.userName.toLowerCase();
  if (name.length >= 3 && lower.includes(name)) {
    throw new PasswordError('PASSWORD_REJECTED', 'The password must not contain the user name.', { details: { reason: 'context' } });
  }
  if (/^(.)\1+$/u.test(normalised)) {
    throw new PasswordError('PASSWORD_REJECTED', 'The password must not be one character repeated.', { details: { reason: 'repetitive' } });
  }
}

// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
// Algorithm is an ambient const enum (not usable under isolatedModules); 2 is Argon2id.
const ARGON2_OPTIONS = { algorithm: 2 as Algorithm, memoryCost: 19456, timeCost: 2, parallelism: 1 };

// FIPS mode: Argon2id is not a FIPS 140 approved algorithm; NIST SP 800-132's
// PBKDF2 with HMAC-SHA-256 is. 600,000 iterations is OWASP's figure for it.
export const PBKDF2_ITERATIONS = 600_000;
const PBKDF2_PREFIX = '$pbkdf2-sha256$';
const pbkdf2Async = promisify(pbkdf2);

/** Whether OpenSSL's FIPS provider is on in this process (the server turns it on with `fips: true`). */
export function fipsEnabled(): boolean {
  return getFips() === 1;
}

/**
 * Hashes a password: Argon2id normally, PBKDF2-HMAC-SHA-256 when the process
 * runs in FIPS mode. The result names its scheme (PHC string format), so
 * {@link verifyPassword} accepts both.
 */
export async function hashPassword(password: string, options: { fips?: boolean } = {}): Promise<string> {
  const normalised = password.normalize('NFKC');
  if (!(options.fips ?? fipsEnabled())) return hash(normalised, ARGON2_OPTIONS);
  const salt = randomBytes(16);
  const derived = await pbkdf2Async(normalised, salt, PBKDF2_ITERATIONS, 32, 'sha256');
  return `${PBKDF2_PREFIX}i=${PBKDF2_ITERATIONS}$${salt.toString('base64')}$${derived.toString('base64')}`;
}

async function verifyPbkdf2(stored: string, password: string): Promise<boolean> {
  const m = /^\$pbkdf2-sha256\$i=(\d{1,8})\$([A-Za-z0-9+/]{22}==)\$([A-Za-z0-9+/]{43}=)$/.exec(stored);
  if (m === null) return false;
  const iterations = Number(m[1]);
  if (iterations < 100_000) return false; // never trust a weakened stored hash
  const expected = Buffer.from(m[3] ?? '', 'base64');
  const derived = await pbkdf2Async(password, Buffer.from(m[2] ?? '', 'base64'), iterations, expected.length, 'sha256');
  return timingSafeEqual(derived, expected);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    const normalised = password.normalize('NFKC');
    if (stored.startsWith(PBKDF2_PREFIX)) return await verifyPbkdf2(stored, normalised);
    return await verify(stored, normalised);
  } catch {
    return false;
  }
}

/** A hash to verify against when the user does not exist, so timing does not reveal which names exist. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  return decoy;
}

/** 24 characters from a 57-symbol alphabet (~140 bits), no look-alikes. */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const out: string[] = [];
  while (out.length < 24) {
    for (const b of randomBytes(32)) {
      // Rejection sampling keeps the distribution uniform.
      if (b < 228 && out.length < 24) out.push(alphabet[b % 57] as string);
    }
  }
  return out.join('');
}
