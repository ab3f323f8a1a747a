import { SightlineError } from '@sightline/core';

export type ValidatorErrorCode =
  | 'SENSITIVE_FREE_TEXT'
  | 'CREDENTIALS_IN_URL'
  | 'URL_INVALID'
  | 'URL_SCHEME_NOT_ALLOWED'
  | 'TEXT_TOO_LONG'
  | 'NAME_INVALID'
  | 'TAGS_TOO_MANY'
  | 'TAG_KEY_INVALID'
  | 'TAG_VALUE_TOO_LONG';

/** What a screened text was found to hold; named in the error, the text itself never is. */
export type SensitiveKind = 'email_address' | 'phone_number' | 'payment_card_number' | 'credential';

const KIND_LABEL: Record<SensitiveKind, string> = {
  email_address: 'an email address',
  phone_number: 'a phone number',
  payment_card_number: 'a payment card number',
  credential: 'a credential or secret',
};

/**
 * A field failed validation. `details` holds only the field name, limits and the kind of
 * problem: never the value or any part of it (it may be the very secret we refuse to store).
 */
export class ValidationError<C extends ValidatorErrorCode = ValidatorErrorCode> extends SightlineError<C> {
  readonly field: string;

  constructor(code: C, field: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { details: { field, ...details } });
    this.field = field;
  }
}

export class SensitiveFreeTextError extends ValidationError<'SENSITIVE_FREE_TEXT'> {
  readonly kind: SensitiveKind;

  constructor(field: string, kind: SensitiveKind, detector: string) {
    super(
      'SENSITIVE_FREE_TEXT',
      field,
      `${field} looks like it contains ${KIND_LABEL[kind]}. Names, descriptions and tags may end up in logs ` +
        'and must not hold personal data or secrets: remove it (keep secrets in the secrets store).',
      { kind, detector },
    );
    this.kind = kind;
  }
}

export class CredentialsInUrlError extends ValidationError<'CREDENTIALS_IN_URL'> {
  constructor(field: string, where: 'userinfo' | 'query') {
    super(
      'CREDENTIALS_IN_URL',
      field,
      where === 'userinfo'
        ? `Move the user name and password out of ${field} into the credentials field (--username/--password-stdin).`
        : `${field} carries a credential in a query parameter: remove it and put the secret in the credentials field (--password-stdin).`,
      { where },
    );
  }
}
