export { CredentialsInUrlError, SensitiveFreeTextError, ValidationError, type SensitiveKind, type ValidatorErrorCode } from './errors.js';
export { MAX_SCREENED_LENGTH, MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH, MAX_TAGS, screenFreeText, screenTags } from './free-text.js';
export { assertNoCredentialsInUrl, MAX_URL_LENGTH, type UrlOptions } from './url.js';
export { credentialFreeUrl, safeName, safeText } from './zod.js';
