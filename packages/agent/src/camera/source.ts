import { fileURLToPath } from 'node:url';
import { assertNoCredentialsInUrl, ValidationError } from '@sightline/protocol';
import type { CameraCredentials } from './credentials.js';
import { CameraError } from './errors.js';

/** Where a camera's video comes from, as the agent holds it in memory. */
export interface CameraSource {
  /** rtsps:// (preferred), rtsp:// (flagged insecure) or file:// (a local clip, for testing apps). Never with user-info. */
  readonly url: string;
  /** From the secrets store, fetched just in time; never on a command line, in a log or in status. */
  readonly credentials?: CameraCredentials | undefined;
  /** PEM CA certificate(s) for rtsps://; absent: the system trust store. */
  readonly ca?: string | undefined;
  /** Allow Basic authentication over plain rtsp:// (off by default). */
  readonly allowBasicOverPlaintext?: boolean | undefined;
}

export type ResolvedSource =
  | { readonly kind: 'rtsp'; readonly url: URL; readonly secure: boolean }
  | { readonly kind: 'file'; readonly path: string; readonly secure: true };

/** Seed point 10: plain RTSP carries video (and Basic credentials) readable on the network. */
export const PLAIN_RTSP_WARNING =
  'This camera uses plain rtsp://: its video crosses the network unencrypted. Use rtsps:// where the camera supports it.';

/**
 * Checks a camera URL before any connection: scheme, no credentials in it
 * (seed point 8, the shared CREDENTIALS_IN_URL rule), a CA only for rtsps.
 */
export function resolveSource(source: CameraSource): ResolvedSource {
  const raw = source.url;
  if (/^file:/i.test(raw)) {
    let path: string;
    try {
      const url = new URL(raw);
      if (url.host !== '' && url.host !== 'localhost') throw new Error('remote file URL');
      path = fileURLToPath(url);
    } catch (err) {
      throw new CameraError('CAMERA_SOURCE_INVALID', 'A file:// camera URL must name a local file (file:///path/clip.mp4).', {
        cause: err,
      });
    }
    return { kind: 'file', path, secure: true };
  }
  let url: URL;
  try {
    url = assertNoCredentialsInUrl('url', raw, { schemes: ['rtsp', 'rtsps'] });
  } catch (err) {
    const code: string = err instanceof ValidationError ? (err as ValidationError).code : 'URL_INVALID';
    // The validator's message never echoes the URL; keep its code for the caller.
    throw new CameraError('CAMERA_SOURCE_INVALID', err instanceof ValidationError ? err.message : 'The camera URL is not valid.', {
      cause: err,
      details: { validation: code },
    });
  }
  const secure = url.protocol === 'rtsps:';
  if (!secure && source.ca !== undefined) {
    throw new CameraError(
      'CAMERA_SOURCE_INVALID',
      'A CA certificate was given for a plain rtsp:// camera; use rtsps:// so that it is used.',
    );
  }
  return { kind: 'rtsp', url, secure };
}
