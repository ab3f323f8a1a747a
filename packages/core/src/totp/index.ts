export { base32Decode, base32Encode } from './base32.js';
export { TotpError, type TotpErrorCode } from './errors.js';
export {
  generateTotpSecret,
  hotp,
  otpauthUri,
  totpCode,
  totpCounter,
  verifyTotp,
  type HotpOptions,
  type OtpauthUriInput,
  type TotpAlgorithm,
  type TotpOptions,
  type VerifyTotpOptions,
} from './totp.js';
