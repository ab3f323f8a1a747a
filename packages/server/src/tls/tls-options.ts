import { constants, getFips, setFips } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { SightlineError } from '@sightline/core';

export type TlsErrorCode = 'FIPS_UNAVAILABLE' | 'TLS_MATERIAL_INVALID';
export class TlsSetupError extends SightlineError<TlsErrorCode> {}

// Seed point 1: TLS 1.2 required, 1.3 recommended. Only ECDHE key exchange
// (forward secrecy) with AEAD ciphers; no CBC, no static RSA, no SHA-1 MACs.
const TLS12_SUITES = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
];
// TLS 1.3 suites are all AEAD with ephemeral key exchange.
const TLS13_SUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'];

export interface TlsPolicy {
  minVersion: '1.2' | '1.3';
  fips: boolean;
}

/** The cipher string for a policy; FIPS mode drops ChaCha20-Poly1305 (not FIPS-approved). */
export function cipherList(policy: TlsPolicy): string {
  const keep = (s: string): boolean => !policy.fips || !s.includes('CHACHA20');
  const suites = [...TLS13_SUITES.filter(keep), ...(policy.minVersion === '1.2' ? TLS12_SUITES.filter(keep) : [])];
  return suites.join(':');
}

export function tlsOptions(policy: TlsPolicy, material: { cert: string; key: string; ca?: string }): TlsOptions & SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    minVersion: policy.minVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: cipherList(policy),
    // X25519 is not FIPS-approved; P-256 and P-384 are.
    ecdhCurve: policy.fips ? 'P-256:P-384' : 'X25519:P-256:P-384',
    honorCipherOrder: true,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

/**
 * Seed point 7: FIPS endpoints. Turn FIPS mode on when asked, or refuse to
 * start; never claim FIPS on an OpenSSL that has no FIPS provider.
 */
export function enableFipsOrThrow(): void {
  if (getFips() === 1) return;
  try {
    setFips(true);
  } catch (err) {
    throw new TlsSetupError(
      'FIPS_UNAVAILABLE',
      'FIPS mode was requested (fips: true / SIGHTLINE_FIPS) but this Node.js has no OpenSSL FIPS provider. Run Node.js built against a FIPS-validated OpenSSL with its provider configured, or turn FIPS mode off.',
      { cause: err },
    );
  }
  if (getFips() !== 1) {
    throw new TlsSetupError('FIPS_UNAVAILABLE', 'FIPS mode could not be verified as active after enabling it; refusing to start.');
  }
}
