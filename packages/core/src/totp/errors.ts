import { SightlineError } from '../errors.js';

export type TotpErrorCode =
  'BASE32_INVALID' | 'TOTP_MALFORMED' | 'TOTP_INVALID' | 'TOTP_REPLAYED' | 'TOTP_SECRET_INVALID' | 'TOTP_OPTIONS_INVALID';

/** Errors of the base32, HOTP and TOTP code. Messages never carry a secret or a code. */
export class TotpError extends SightlineError<TotpErrorCode> {}
