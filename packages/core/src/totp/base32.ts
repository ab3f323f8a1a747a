import { TotpError } from './errors.js';

// RFC 4648 §6 alphabet.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
// A base32 string of n full 5-bit groups leaves (n * 5) mod 8 spare bits; RFC 4648 §6 only
// produces lengths (mod 8) of 0, 2, 4, 5 and 7 characters.
const VALID_TAIL = new Set([0, 2, 4, 5, 7]);

/** RFC 4648 base32, upper case, without padding (as authenticator apps expect). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET.charAt((buffer >>> bits) & 31);
    }
  }
  if (bits > 0) out += ALPHABET.charAt((buffer << (5 - bits)) & 31);
  return out;
}

/**
 * RFC 4648 base32 decode. Accepts lower case, spaces (as apps show secrets in groups) and
 * trailing `=` padding; throws `BASE32_INVALID` on any other character or an impossible length.
 */
export function base32Decode(text: string): Uint8Array {
  const clean = text.replace(/ /g, '').toUpperCase().replace(/=+$/, '');
  if (!VALID_TAIL.has(clean.length % 8)) {
    throw new TotpError('BASE32_INVALID', 'The base32 text has an impossible length; check that it was copied whole.');
  }
  const out = new Uint8Array(Math.floor((clean.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let i = 0;
  for (const ch of clean) {
    const value = ALPHABET.indexOf(ch);
    if (value < 0) {
      // The offending character is not echoed: the text may be a secret.
      throw new TotpError('BASE32_INVALID', 'The base32 text holds a character outside A-Z and 2-7.');
    }
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[i++] = (buffer >>> bits) & 0xff;
    }
  }
  return out;
}
