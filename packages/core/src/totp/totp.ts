import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { base32Decode, base32Encode } from './base32.js';
import { TotpError } from './errors.js';

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface HotpOptions {
  /** HMAC hash; RFC 6238 §1.2 allows SHA-1 (the default every app supports), SHA-256 and SHA-512. */
  readonly algorithm?: TotpAlgorithm;
  /** Digits in a code, 6 to 10 (RFC 4226 §5.3 asks for at least 6). Default 6. */
  readonly digits?: number;
}

export interface TotpOptions extends HotpOptions {
  /** Time step X in seconds (RFC 6238 §4.1). Default 30. */
  readonly period?: number;
}

export interface VerifyTotpOptions extends TotpOptions {
  /** Steps accepted on each side of the current one, for clock drift (RFC 6238 §5.2). Default 1, at most 10. */
  readonly window?: number;
  /** The last counter this account accepted: a code for it or an earlier step throws `TOTP_REPLAYED`. */
  readonly lastCounter?: number;
}

const HASH = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' } as const;
// RFC 4226 §4 R6: the shared secret is at least 128 bits.
const MIN_SECRET_BYTES = 16;
const MAX_WINDOW = 10;

/** 20 random bytes: the 160-bit secret RFC 4226 §4 recommends. Encode with `base32Encode` to show it. */
export function generateTotpSecret(): Uint8Array {
  return new Uint8Array(randomBytes(20));
}

/** RFC 4226 HOTP value for `counter` (a non-negative safe integer). */
export function hotp(secret: Uint8Array, counter: number, options: HotpOptions = {}): string {
  const { algorithm, digits } = resolve(options);
  checkSecret(secret);
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new TotpError('TOTP_OPTIONS_INVALID', 'The HOTP counter must be a non-negative integer.');
  }
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(HASH[algorithm], secret).update(message).digest();
  // RFC 4226 §5.3 dynamic truncation: the low 4 bits of the last byte pick a 31-bit word.
  const offset = mac[mac.length - 1]! & 0x0f;
  const word = mac.readUInt32BE(offset) & 0x7fffffff;
  return (word % 10 ** digits).toString().padStart(digits, '0');
}

/** RFC 6238 time-step counter T = floor((unix time - T0) / X), with T0 = 0. */
export function totpCounter(timeMs: number, period = 30): number {
  if (!Number.isFinite(timeMs) || timeMs < 0) {
    throw new TotpError('TOTP_OPTIONS_INVALID', 'The time must be a non-negative number of milliseconds.');
  }
  checkPeriod(period);
  return Math.floor(timeMs / 1000 / period);
}

/** The TOTP code for the step that holds `timeMs`. */
export function totpCode(secret: Uint8Array, timeMs: number, options: TotpOptions = {}): string {
  return hotp(secret, totpCounter(timeMs, options.period), options);
}

/**
 * Checks `code` against the steps within `window` of `timeMs` and returns the matched step
 * counter. Store it and pass it back as `lastCounter` next time (RFC 6238 §5.2: a code is
 * accepted once). Throws `TOTP_MALFORMED`, `TOTP_INVALID` or `TOTP_REPLAYED`; never returns false.
 *
 * @example
 * const counter = verifyTotp(secret, '287082', Date.now(), { lastCounter: user.totpLastCounter });
 * user.totpLastCounter = counter;
 */
export function verifyTotp(secret: Uint8Array, code: string, timeMs: number, options: VerifyTotpOptions = {}): number {
  const { digits } = resolve(options);
  const window = options.window ?? 1;
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) {
    throw new TotpError('TOTP_OPTIONS_INVALID', `The TOTP window must be an integer from 0 to ${MAX_WINDOW}.`);
  }
  // Exactly `digits` ASCII digits: no spaces, signs or other scripts' digits.
  if (typeof code !== 'string' || code.length !== digits || !/^[0-9]+$/.test(code)) {
    throw new TotpError('TOTP_MALFORMED', `Enter the ${digits}-digit code your authenticator app shows.`);
  }
  const now = totpCounter(timeMs, options.period);
  const given = Buffer.from(code, 'ascii');
  let matched = -1;
  // Every candidate is computed and compared in constant time, so timing tells nothing about
  // which step (if any) matched. The latest matching step wins, which is the safe one to store.
  for (let counter = now - window; counter <= now + window; counter++) {
    if (counter < 0) continue;
    const expected = Buffer.from(hotp(secret, counter, options), 'ascii');
    if (timingSafeEqual(expected, given)) matched = counter;
  }
  if (matched < 0) {
    throw new TotpError('TOTP_INVALID', 'The code is wrong or has expired; enter the code the app shows now.');
  }
  // RFC 6238 §5.2: the verifier must not accept the second attempt of the same OTP.
  if (options.lastCounter !== undefined && matched <= options.lastCounter) {
    throw new TotpError('TOTP_REPLAYED', 'This code was already used; wait for the next code and enter it.');
  }
  return matched;
}

export interface OtpauthUriInput extends TotpOptions {
  readonly issuer: string;
  readonly account: string;
  /** The secret's bytes, or its base32 text (checked by decoding it). */
  readonly secret: Uint8Array | string;
}

/**
 * A Key URI (the format Google Authenticator documents) for a QR code:
 * `otpauth://totp/Issuer:account?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`.
 */
export function otpauthUri(input: OtpauthUriInput): string {
  const { algorithm, digits } = resolve(input);
  const period = input.period ?? 30;
  checkPeriod(period);
  const secret = typeof input.secret === 'string' ? base32Decode(input.secret) : input.secret;
  checkSecret(secret);
  for (const [name, value] of [
    ['issuer', input.issuer],
    ['account', input.account],
  ] as const) {
    // Key URI format: neither the issuer nor the account may contain a colon (the label separator).
    if (value.length === 0 || value.length > 256 || value.includes(':')) {
      throw new TotpError('TOTP_OPTIONS_INVALID', `The ${name} must be 1 to 256 characters without a colon.`);
    }
  }
  const label = `${encode(input.issuer)}:${encode(input.account)}`;
  const query =
    `secret=${base32Encode(secret)}&issuer=${encode(input.issuer)}` + `&algorithm=${algorithm}&digits=${digits}&period=${period}`;
  return `otpauth://totp/${label}?${query}`;
}

// encodeURIComponent leaves !'()* alone; encode them too so every app reads the same text.
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function resolve(options: HotpOptions): { algorithm: TotpAlgorithm; digits: number } {
  const algorithm = options.algorithm ?? 'SHA1';
  const digits = options.digits ?? 6;
  if (!Object.hasOwn(HASH, algorithm)) {
    throw new TotpError('TOTP_OPTIONS_INVALID', 'The TOTP algorithm must be SHA1, SHA256 or SHA512.');
  }
  if (!Number.isInteger(digits) || digits < 6 || digits > 10) {
    throw new TotpError('TOTP_OPTIONS_INVALID', 'The TOTP digits must be an integer from 6 to 10.');
  }
  return { algorithm, digits };
}

function checkPeriod(period: number): void {
  if (!Number.isInteger(period) || period < 1 || period > 300) {
    throw new TotpError('TOTP_OPTIONS_INVALID', 'The TOTP period must be an integer from 1 to 300 seconds.');
  }
}

function checkSecret(secret: Uint8Array): void {
  // RFC 4226 §4 R6: at least 128 bits of shared secret.
  if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) {
    throw new TotpError('TOTP_SECRET_INVALID', `The TOTP secret must be at least ${MIN_SECRET_BYTES} bytes.`);
  }
}
