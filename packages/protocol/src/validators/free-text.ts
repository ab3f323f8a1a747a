import { SensitiveFreeTextError, ValidationError, type SensitiveKind } from './errors.js';

// Hard cap on what we scan (STYLE: caps on everything read from outside). Every pattern
// below is linear in the input (bounded quantifiers, no nested repetition).
export const MAX_SCREENED_LENGTH = 65_536;
export const MAX_TAGS = 50;
export const MAX_TAG_KEY_LENGTH = 128;
export const MAX_TAG_VALUE_LENGTH = 256;

interface Detector {
  readonly kind: SensitiveKind;
  readonly name: string;
  readonly found: (text: string) => boolean;
}

const matches = (pattern: RegExp) => (text: string) => pattern.test(text);
const anyMatch = (pattern: RegExp, accept: (match: string) => boolean) => (text: string) => {
  for (const m of text.matchAll(pattern)) if (accept(m[0])) return true;
  return false;
};
const digitCount = (s: string): number => s.replace(/\D/g, '').length;

// Order matters only for the kind reported: secrets first, as the most harmful.
const DETECTORS: readonly Detector[] = [
  { kind: 'credential', name: 'private_key', found: matches(/-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY/) },
  {
    kind: 'credential',
    name: 'credential_assignment',
    // `password=x`, `db_passwd: x`, `"api_key": "x"`: a credential name, `=` or `:`, then a value.
    found: matches(
      /(?:passw(?:or)?d|passphrase|(?<![a-z])pwd|secrets?|token|api[_-]?key|access[_-]?key|private[_-]?key)["']?\s{0,4}[:=]\s{0,4}["']?[^\s"',;&]/i,
    ),
  },
  { kind: 'credential', name: 'url_userinfo', found: matches(/[a-z][a-z0-9+.-]{0,31}:\/\/[^\s/?#@]{1,256}@/i) },
  { kind: 'credential', name: 'jwt', found: matches(/eyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]*/) },
  { kind: 'credential', name: 'aws_access_key_id', found: matches(/(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/) },
  { kind: 'credential', name: 'github_token', found: matches(/(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{20,})/) },
  { kind: 'credential', name: 'slack_token', found: matches(/xox[abposr]-[A-Za-z0-9-]{10,}/) },
  // Sightline API keys: `slk_` then the key; 16+ characters so that a name like `slk_entrance` passes.
  { kind: 'credential', name: 'sightline_api_key', found: matches(/(?<![A-Za-z0-9])slk_[\w-]{16,}/) },
  { kind: 'credential', name: 'high_entropy_token', found: hasHighEntropyToken },
  { kind: 'payment_card_number', name: 'payment_card', found: hasCardNumber },
  {
    kind: 'email_address',
    name: 'email',
    found: matches(/[\w.%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63}(?![A-Za-z0-9-])/),
  },
  {
    kind: 'phone_number',
    name: 'e164',
    // E.164: `+`, then 8 to 15 digits, optionally grouped by spaces, dots, dashes or brackets.
    found: anyMatch(/(?<![\w+])\+\(?\d[\d ().-]{6,24}\d(?!\d)/g, (m) => digitCount(m) >= 8 && digitCount(m) <= 15),
  },
  {
    kind: 'phone_number',
    name: 'nanp',
    // North American `(555) 123-4567`, `555-123-4567`, `555.123.4567`, `1 800 555 1234`. Separators
    // are required: a bare 10-digit run is as likely a Unix time or a serial number.
    found: matches(/(?<![\w.+-])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-]|\.\d)/),
  },
  {
    kind: 'phone_number',
    name: 'national_trunk',
    // Trunk-prefix national numbers (UK `020 7946 0958`, FR `01 23 45 67 89`, DE `030-1234567`):
    // a leading 0, one separator used throughout, 9 to 11 digits. Dates (`01-12-2026`) have 8.
    found: anyMatch(
      /(?<![\w.+-])0\d{1,4}([ .-])\d{2,8}(?:\1\d{2,8}){0,3}(?![\w-]|\.\d)/g,
      (m) => digitCount(m) >= 9 && digitCount(m) <= 11,
    ),
  },
];

/**
 * Throws `SensitiveFreeTextError` when `value` looks like it holds an email address, a phone
 * number, a payment card number or a credential. The error names `field` and the kind found,
 * never the value.
 */
export function screenFreeText(field: string, value: string): void {
  if (value.length > MAX_SCREENED_LENGTH) {
    throw new ValidationError('TEXT_TOO_LONG', field, `${field} is longer than ${MAX_SCREENED_LENGTH} characters.`, {
      max: MAX_SCREENED_LENGTH,
    });
  }
  // NFKC folds full-width and other compatibility forms (`４１１１…`, `ｐａｓｓｗｏｒｄ`) to ASCII.
  // UUIDs and labelled digests are identifiers we allow; blanking them keeps their digit groups
  // from reading as a card or phone number.
  const text = value.normalize('NFKC').replace(LABELLED_DIGEST, ' ').replace(UUID, ' ');
  for (const detector of DETECTORS) {
    // Seed: never put sensitive data such as customers' email addresses into names, tags or free-form fields.
    if (detector.found(text)) throw new SensitiveFreeTextError(field, detector.kind, detector.name);
  }
}

/** Screens tag keys and values and enforces the tag caps (50 tags, key 1–128, value ≤ 256 characters). */
export function screenTags(tags: Readonly<Record<string, string>>, field = 'tags'): void {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) {
    throw new ValidationError('TAGS_TOO_MANY', field, `${field} has more than ${MAX_TAGS} tags; remove some.`, {
      max: MAX_TAGS,
    });
  }
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > MAX_TAG_KEY_LENGTH) {
      throw new ValidationError('TAG_KEY_INVALID', field, `Tag keys must be 1 to ${MAX_TAG_KEY_LENGTH} characters.`, {
        max: MAX_TAG_KEY_LENGTH,
      });
    }
    // The key is not named until it has passed screening.
    screenFreeText(`${field} (a key)`, key);
    if (typeof value !== 'string' || value.length > MAX_TAG_VALUE_LENGTH) {
      throw new ValidationError(
        'TAG_VALUE_TOO_LONG',
        `${field}.${key}`,
        `Tag values must be strings of at most ${MAX_TAG_VALUE_LENGTH} characters.`,
        { max: MAX_TAG_VALUE_LENGTH },
      );
    }
    screenFreeText(`${field}.${key}`, value);
  }
}

// Payment cards: 13–19 digits, whole or grouped by spaces or dashes, passing Luhn (ISO/IEC
// 7812-1) with a known issuer prefix and length; the prefix keeps ids and millisecond
// timestamps (1 in 10 pass Luhn alone) from tripping it. Every run of consecutive groups is
// tried, so a card followed by its CVV or preceded by an order number is still found.
function hasCardNumber(text: string): boolean {
  for (const [run] of text.matchAll(/(?<![\w+])\d{1,19}(?:[ -]\d{1,19}){0,15}(?!\w)/g)) {
    const groups = run.split(/[ -]/);
    for (let i = 0; i < groups.length; i++) {
      let digits = '';
      for (let j = i; j < groups.length && digits.length < 19; j++) {
        digits += groups[j];
        if (digits.length >= 13 && digits.length <= 19 && luhn(digits) && knownIssuer(digits)) return true;
      }
    }
  }
  return false;
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let n = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) n = n * 2 > 9 ? n * 2 - 9 : n * 2;
    sum += n;
  }
  return sum % 10 === 0;
}

function knownIssuer(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  if (d.startsWith('4')) return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // American Express
  if (p2 === 36 || p2 === 38 || p2 === 39 || (p3 >= 300 && p3 <= 305)) return n >= 14; // Diners Club
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || p2 === 62) return n >= 16; // Discover, UnionPay
  if (p4 >= 3528 && p4 <= 3589) return n >= 16; // JCB
  return p2 === 50 || (p2 >= 56 && p2 <= 58) || p2 === 63 || p2 === 67; // Maestro
}

// Generic secrets (random API keys, base64 keys, hex keys). Thresholds were measured on
// 20,000 random tokens each against generated identifiers (kebab, snake, camelCase with numbers):
// - hex runs of 32+ characters with Shannon entropy ≥ 3.0 bits/char: random 128-bit hex sits
//   at ≥ 3.1 in 99.9% of draws; words cannot fill 32 hex characters.
// - base64/base64url runs of 32+: entropy of the letters and digits ≥ 4.0 bits/char and a mean
//   letter-or-digit "word" shorter than 3 characters. Random 32-char base64 passes both in
//   99.4% of draws; identifiers, whose words average 4–6 characters, in < 0.1%.
// - base32 runs (A–Z, 2–7; TOTP secrets) of 32+: entropy ≥ 4.0 and at least two digits. This
//   catches 89% of 32-char and > 99.9% of 52-char random base32; its cost is that an
//   all-capitals identifier with digits and no separators (`ZONE563LOBBYGATE…`) may be refused.
// Allowed on purpose: UUIDs (identifiers: 122 random bits, but public by design) and digests
// labelled with their algorithm (`sha256:<64 hex>`, as OCI does). A bare 64-hex string is
// refused: it cannot be told from a 256-bit key.
const UUID = /(?<![A-Za-z0-9])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![A-Za-z0-9])/gi;
const LABELLED_DIGEST =
  /(?<![A-Za-z0-9])(?:sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})(?![A-Za-z0-9])/gi;
const HEX_RUN = /(?<![A-Za-z0-9])[0-9a-f]{32,}(?![A-Za-z0-9])/gi;
const TOKEN_RUN = /[A-Za-z0-9+/_=-]{32,}/g;
const WORD = /[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+/g;

function hasHighEntropyToken(text: string): boolean {
  for (const [run] of text.matchAll(HEX_RUN)) {
    // A run of decimal digits only is a number, not a hex key (random 32-hex lacks a letter 1 time in 3 million).
    if (/[a-f]/i.test(run) && entropy(run.toLowerCase()) >= 3.0) return true;
  }
  for (const [run] of text.matchAll(TOKEN_RUN)) {
    if (/^[0-9a-f]+$/i.test(run)) continue; // judged above as hex
    const core = run.replace(/[+/_=-]/g, '');
    if (/^[A-Z2-7]+=*$/.test(run)) {
      if (entropy(core) >= 4.0 && (core.match(/[2-7]/g)?.length ?? 0) >= 2) return true;
      continue;
    }
    const words = core.match(WORD)?.length ?? 1;
    if (core.length >= 24 && entropy(core) >= 4.0 && core.length / words < 3) return true;
  }
  return false;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / s.length) * Math.log2(n / s.length);
  return bits;
}
