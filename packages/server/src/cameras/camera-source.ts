import { X509Certificate } from 'node:crypto';
import { assertNoCredentialsInUrl, ValidationError } from '@sightline/protocol';
import { CameraError } from './camera-errors.js';

/**
 * What a camera's source may be (seed points 8 and 10): rtsps:// (preferred),
 * rtsp:// (accepted with a warning: not encrypted), file:// (tests and
 * simulators). Never credentials in the URL: they go to the secrets store.
 */
export const CAMERA_URL_SCHEMES = ['rtsps', 'rtsp', 'file'] as const;
export type CameraScheme = (typeof CAMERA_URL_SCHEMES)[number];

/** Camera URLs are short; the shared validator allows 4096 for any URL. */
export const MAX_CAMERA_URL_LENGTH = 2048;
/** A CA bundle for one camera: a few certificates. */
export const MAX_TLS_CA_PEM_LENGTH = 16 * 1024;
export const MAX_TLS_CA_CERTIFICATES = 8;

export type CameraWarningCode = 'RTSP_UNENCRYPTED' | 'FILE_SOURCE';

/** The sentence shown with each warning code (stored as codes, so the wording can improve). */
export const CAMERA_WARNINGS: Readonly<Record<CameraWarningCode, string>> = {
  RTSP_UNENCRYPTED:
    'Plain rtsp:// is not encrypted: the video stream and the camera credentials cross the network in clear. Prefer rtsps:// where the camera supports it.',
  FILE_SOURCE: 'file:// reads a video file on the appliance: for tests and simulators, not for a live camera.',
};

export interface CheckedCameraUrl {
  /** The URL as the WHATWG parser writes it back (what is stored). */
  url: string;
  scheme: CameraScheme;
  warnings: CameraWarningCode[];
}

const FILE_HINT = 'file:// URLs name a file on the appliance, e.g. file:///var/lib/sightline/clips/lobby.mp4';

function fileUrlInvalid(field: string): ValidationError {
  return new ValidationError('URL_INVALID', field, `${field} is not a usable file URL: ${FILE_HINT}.`);
}

/**
 * Checks a camera URL: no user-info and no credential-looking query or
 * fragment parameter (CREDENTIALS_IN_URL, pointing to --username and
 * --password-stdin), one of the camera schemes (URL_SCHEME_NOT_ALLOWED), a
 * size cap. Errors name `field` and never echo the URL.
 *
 * @example
 * checkCameraUrl('url', 'rtsp://10.0.0.5:554/stream1'); // { scheme: 'rtsp', warnings: ['RTSP_UNENCRYPTED'], … }
 */
export function checkCameraUrl(field: string, input: string): CheckedCameraUrl {
  if (input.length > MAX_CAMERA_URL_LENGTH) {
    throw new ValidationError('URL_INVALID', field, `${field} is longer than ${MAX_CAMERA_URL_LENGTH} characters.`, {
      max: MAX_CAMERA_URL_LENGTH,
    });
  }
  // As the WHATWG parser (and the shared validator) sees it: tabs and newlines dropped, leading blanks too.
  const raw = input.replace(/[\t\n\r]/g, '').replace(/^[\x00-\x20]+/, '');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === 'file') {
    // A file URL has no host (`file:///path`); the shared validator wants one, so it checks a stand-in
    // with a placeholder host for user-info and credential parameters, which it finds first.
    const probe = raw.replace(/^file:\/\/\//i, 'file://sightline.invalid/');
    try {
      assertNoCredentialsInUrl(field, probe, { schemes: ['file'] });
    } catch (err) {
      if (err instanceof ValidationError && err.code === 'URL_INVALID') throw fileUrlInvalid(field);
      throw err;
    }
    const parsed = new URL(raw);
    if (parsed.hostname !== '' || parsed.pathname === '/' || parsed.pathname.endsWith('/') || parsed.search !== '' || parsed.hash !== '') {
      throw fileUrlInvalid(field);
    }
    return { url: parsed.href, scheme: 'file', warnings: ['FILE_SOURCE'] };
  }
  const parsed = assertNoCredentialsInUrl(field, raw, { schemes: CAMERA_URL_SCHEMES });
  if (/[\x00-\x20\x7f]/.test(raw)) {
    throw new ValidationError('URL_INVALID', field, `${field} must not contain spaces or control characters; percent-encode them.`);
  }
  const s = parsed.protocol.slice(0, -1) as 'rtsp' | 'rtsps';
  return { url: parsed.href, scheme: s, warnings: s === 'rtsp' ? ['RTSP_UNENCRYPTED'] : [] };
}

export interface TlsCaSummary {
  certificates: number;
  /** The first certificate's subject, one line. */
  subject: string;
  /** SHA-256 fingerprint of the first certificate, hex. */
  sha256: string;
  /** The earliest expiry among the certificates. */
  notAfter: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]{1,16384}?)-----END CERTIFICATE-----/g;

function caInvalid(message: string): CameraError {
  return new CameraError('CAMERA_TLS_CA_INVALID', message, { details: { field: 'tlsCaPem' } });
}

/**
 * Parses the CA (one or more PEM certificates, nothing else) that the
 * appliance should trust for an rtsps:// camera. A certificate is public;
 * a private key pasted by mistake is refused without being echoed or kept.
 */
export function parseTlsCa(pem: string): { pem: string; summary: TlsCaSummary } {
  if (pem.length > MAX_TLS_CA_PEM_LENGTH) throw caInvalid(`tlsCaPem is larger than ${MAX_TLS_CA_PEM_LENGTH} characters.`);
  if (/PRIVATE KEY/.test(pem)) {
    throw caInvalid('tlsCaPem holds a private key: send only the CA certificate (BEGIN CERTIFICATE), never a key.');
  }
  const blocks = [...pem.matchAll(PEM_BLOCK)].map((m) => m[0]);
  const rest = pem.replace(PEM_BLOCK, '').trim();
  if (blocks.length === 0 || rest !== '') {
    throw caInvalid(
      'tlsCaPem must be one or more PEM certificates (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----) and nothing else.',
    );
  }
  if (blocks.length > MAX_TLS_CA_CERTIFICATES) throw caInvalid(`tlsCaPem holds more than ${MAX_TLS_CA_CERTIFICATES} certificates.`);
  const certs = blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (cause) {
      throw new CameraError('CAMERA_TLS_CA_INVALID', `Certificate ${i + 1} in tlsCaPem does not parse as X.509.`, {
        cause,
        details: { field: 'tlsCaPem' },
      });
    }
  });
  const first = certs[0] as X509Certificate;
  const notAfter = Math.min(...certs.map((c) => Date.parse(c.validTo)));
  return {
    pem: `${blocks.map((b) => b.replace(/\r\n/g, '\n')).join('\n')}\n`,
    summary: {
      certificates: certs.length,
      subject: first.subject.replace(/\n/g, ', ').slice(0, 256),
      sha256: first.fingerprint256.replaceAll(':', '').toLowerCase(),
      notAfter: new Date(notAfter).toISOString(),
    },
  };
}
