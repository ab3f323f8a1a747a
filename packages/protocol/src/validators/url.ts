import { CredentialsInUrlError, ValidationError } from './errors.js';

export const MAX_URL_LENGTH = 4096;

export interface UrlOptions {
  /** Allowed schemes, lower case without the colon (`['rtsp', 'rtsps']`). Default: any. */
  readonly schemes?: readonly string[];
}

// WHATWG URL "special" schemes: for these the parser finds an authority after any mix of
// slashes and backslashes, even none (`http:u:p@host` has user `u`).
const SPECIAL = new Set(['http', 'https', 'ws', 'wss', 'ftp', 'file']);
const AUTHORITY = /^([a-z][a-z0-9+.-]*):([\\/]*)([^\\/?#]*)/i;
const CREDENTIAL_PARAM = /passw(?:or)?d|passphrase|secret|token|api[_-]?key|access[_-]?key|credential|signature/i;
const CREDENTIAL_PARAM_EXACT = new Set(['pwd', 'pass', 'key', 'auth', 'authorization', 'sig', 'jwt', 'session', 'sessionid', 'sid']);

/**
 * Parses `url` and throws `CredentialsInUrlError` if it carries credentials: user-info
 * (`rtsp://user:pass@host`, `rtsp://user@host`) or a credential-named query or fragment
 * parameter (`?password=`, `#access_token=`). Throws `URL_INVALID` for a URL that does not parse
 * or names no host, `URL_SCHEME_NOT_ALLOWED` for a scheme outside `options.schemes`.
 * Messages name `field` and never echo the URL.
 *
 * @example
 * const url = assertNoCredentialsInUrl('url', 'rtsps://cam-01.local:322/stream1', { schemes: ['rtsp', 'rtsps'] });
 */
export function assertNoCredentialsInUrl(field: string, url: string, options: UrlOptions = {}): URL {
  if (url.length > MAX_URL_LENGTH) {
    throw new ValidationError('URL_INVALID', field, `${field} is longer than ${MAX_URL_LENGTH} characters.`, {
      max: MAX_URL_LENGTH,
    });
  }
  // The WHATWG parser drops tabs and newlines anywhere and leading controls and spaces; so do we,
  // so that the raw check below sees what the parser would.
  const raw = url.replace(/[\t\n\r]/g, '').replace(/^[\x00-\x20]+/, '');

  // Seed: never put credentials in a URL. An `@` in the authority means user-info. Checked on
  // the raw text first: the parser rewrites odd forms (`rtsp://u:p@@host`) and rejects others,
  // and both must still be refused as credentials, not passed on or reported as a typo.
  const authority = AUTHORITY.exec(raw);
  if (authority) {
    const [, scheme = '', slashes = '', rest = ''] = authority;
    if (rest.includes('@') && (slashes.length >= 2 || SPECIAL.has(scheme.toLowerCase()))) {
      throw new CredentialsInUrlError(field, 'userinfo');
    }
  }

  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ValidationError('URL_INVALID', field, `${field} is not a valid absolute URL (scheme://host/path).`);
  }
  // Seed: no credentials in URLs (defence in depth: whatever the parser found as user-info).
  if (parsed.username !== '' || parsed.password !== '') throw new CredentialsInUrlError(field, 'userinfo');

  const scheme = parsed.protocol.slice(0, -1);
  if (options.schemes !== undefined && !options.schemes.includes(scheme)) {
    throw new ValidationError('URL_SCHEME_NOT_ALLOWED', field, `${field} must use one of these schemes: ${options.schemes.join(', ')}.`, {
      allowed: [...options.schemes],
    });
  }
  if (parsed.hostname === '') {
    throw new ValidationError('URL_INVALID', field, `${field} must name a host (scheme://host/path).`);
  }

  // Seed: no credentials in URLs, including `?password=` and OAuth-style `#access_token=`.
  for (const params of [parsed.searchParams, new URLSearchParams(parsed.hash.slice(1))]) {
    for (const name of params.keys()) {
      if (CREDENTIAL_PARAM.test(name) || CREDENTIAL_PARAM_EXACT.has(name.toLowerCase())) {
        throw new CredentialsInUrlError(field, 'query');
      }
    }
  }
  return parsed;
}
