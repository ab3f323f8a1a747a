import 'reflect-metadata';
import { X509Certificate, createHash, createPrivateKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AgentError } from '../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** ECDSA P-256 with SHA-256: what the control plane's CA issues for (issue 5). */
const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface DeviceKey {
  /** PKCS#8 DER; lives in memory and in the encrypted store only. */
  keyPkcs8: Buffer;
  csrPem: string;
}

export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

export function keyPem(keyPkcs8: Uint8Array): string {
  return pemEncode('PRIVATE KEY', keyPkcs8);
}

/**
 * A fresh device key pair and a PKCS#10 request for it (seed point 9: the
 * device private key is generated on the device and never leaves it; only
 * the CSR goes out). Subject: CN = the device name, nothing else.
 */
export async function generateDeviceKey(deviceName: string): Promise<DeviceKey> {
  const keys = await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // JSON form, so a name with ',' or '=' cannot inject attributes into the DN.
    name: [{ CN: [deviceName] }],
    keys,
    signingAlgorithm: EC_ALG,
  });
  const keyPkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { keyPkcs8, csrPem: csr.toString('pem') };
}

export interface CertFacts {
  commonName: string;
  notBefore: number;
  notAfter: number;
  sha256: string;
}

export function certFacts(certPem: string): CertFacts {
  const c = new X509Certificate(certPem);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(c.subject)?.[1] ?? '';
  return {
    commonName: cn,
    notBefore: Date.parse(c.validFrom),
    notAfter: Date.parse(c.validTo),
    sha256: createHash('sha256').update(c.raw).digest('hex'),
  };
}

/**
 * Checks a certificate the control plane issued before anything is stored
 * (fail closed): it parses, names this device, certifies our own key (RFC
 * 5280 4.1.2.7: the subject public key), was signed by the device CA and is
 * valid now.
 */
export function verifyIssuedCertificate(certPem: string, keyPkcs8: Uint8Array, caPem: string, device: string, now: number): CertFacts {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    ca = new X509Certificate(caPem);
  } catch (err) {
    throw new AgentError('RESPONSE_INVALID', 'The control plane returned a certificate that does not parse.', { cause: err });
  }
  const facts = certFacts(certPem);
  if (facts.commonName !== device)
    throw new AgentError('RESPONSE_INVALID', `The issued certificate names "${facts.commonName}", not this device "${device}".`);
  if (!cert.checkPrivateKey(createPrivateKey({ key: Buffer.from(keyPkcs8), format: 'der', type: 'pkcs8' }))) {
    throw new AgentError('RESPONSE_INVALID', "The issued certificate is not for this device's key.");
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    throw new AgentError('RESPONSE_INVALID', 'The issued certificate is not signed by the device CA.');
  if (!(facts.notBefore <= now + 10 * 60_000 && now < facts.notAfter)) {
    throw new AgentError('RESPONSE_INVALID', 'The issued certificate is not valid now; check the device clock (NTP).');
  }
  return facts;
}

/** When to renew: at two thirds of the certificate's life (issue 5). */
export function renewAt(certPem: string): number {
  const f = certFacts(certPem);
  return f.notBefore + Math.floor(((f.notAfter - f.notBefore) * 2) / 3);
}
