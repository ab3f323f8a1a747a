import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
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

export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFKC'), ARGON2_OPTIONS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password.normalize('NFKC'));
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
