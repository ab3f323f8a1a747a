import { z } from 'zod';
import { ValidationError } from './errors.js';
import { MAX_SCREENED_LENGTH, screenFreeText } from './free-text.js';
import { assertNoCredentialsInUrl, type UrlOptions } from './url.js';

/**
 * Zod schemas that run the validators, for API schemas to reuse. A failure becomes one
 * `custom` issue whose `message` is the validator's sentence and whose `params` are the error's
 * non-secret details plus `code`, the stable error code:
 *
 *   { code: 'custom', message: '…', params: { code: 'SENSITIVE_FREE_TEXT', field: 'name', kind: 'email_address', detector: 'email' } }
 *
 * The API layer maps `issue.params.code` as it maps `SightlineError.code`. Neither the message
 * nor the params hold the input (zod also leaves `input` out unless `reportInput` is set).
 */
function validated(check: (value: string) => void): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    try {
      check(value);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const params: Record<string, unknown> = { ...(err.details ?? {}), code: err.code };
      ctx.addIssue({ code: 'custom', message: err.message, params });
    }
  });
}

/** Free text (a description) of at most `max` characters, screened for personal data and secrets. */
export function safeText(field: string, options: { readonly max: number }): z.ZodString {
  const max = Math.min(options.max, MAX_SCREENED_LENGTH);
  return validated((value) => {
    if (value.length > max) {
      throw new ValidationError('TEXT_TOO_LONG', field, `${field} must be at most ${max} characters.`, { max });
    }
    screenFreeText(field, value);
  });
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A resource name: 1–64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit, screened. */
export function safeName(field: string): z.ZodString {
  return validated((value) => {
    // Screen first: an e-mail address used as a name should be reported as
    // personal data (what to fix), not merely as a bad character.
    screenFreeText(field, value);
    if (!NAME.test(value)) {
      throw new ValidationError(
        'NAME_INVALID',
        field,
        `${field} must be 1 to 64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit.`,
      );
    }
  });
}

/** A URL without user-info or credential parameters, with one of `options.schemes`. */
export function credentialFreeUrl(field: string, options: Required<UrlOptions>): z.ZodString {
  return validated((value) => {
    assertNoCredentialsInUrl(field, value, options);
  });
}
