import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** ECDSA P-256 with SHA-256: approved under FIPS 186-5 and what every TLS peer speaks. */
const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface Issued {
  certPem: string;
  /** PKCS#8 DER of the private key. Callers seal it before it touches disk. */
  keyPkcs8: Uint8Array;
}

function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

export function pkcs8ToPem(der: Uint8Array): string {
  return toPem('PRIVATE KEY', der);
}

function serial(): string {
  // 16 random bytes, top bit cleared so the DER integer stays positive (RFC 5280 4.1.2.2).
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']));
}

async function exportPkcs8(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', key));
}

async function importSigningKey(pkcs8: Uint8Array): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', pkcs8, EC_ALG, false, ['sign']);
}

/** Creates the internal certificate authority (self-signed, 10 years). */
export async function createCertificateAuthority(commonName: string, now = new Date()): Promise<Issued> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + 3650 * DAY_MS),
    signingAlgorithm: EC_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPkcs8: await exportPkcs8(keys.privateKey) };
}

export interface LeafRequest {
  commonName: string;
  /** DNS names and IP addresses for the subjectAltName. */
  names?: string[];
  usage: 'server' | 'client';
  validityDays: number;
  /** A public key from a CSR; when absent a key pair is generated here. */
  publicKey?: CryptoKey;
}

/** Issues a leaf certificate signed by the CA. */
export async function issueCertificate(ca: Issued, req: LeafRequest, now = new Date()): Promise<{ certPem: string; keyPkcs8?: Uint8Array }> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPkcs8);
  let publicKey = req.publicKey;
  let keyPkcs8: Uint8Array | undefined;
  if (publicKey === undefined) {
    const keys = await generateKeys();
    publicKey = keys.publicKey;
    keyPkcs8 = await exportPkcs8(keys.privateKey);
  }
  const names = (req.names ?? []).map((n) => (isIP(n) === 0 ? { type: 'dns' as const, value: n } : { type: 'ip' as const, value: n }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${req.commonName}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + req.validityDays * DAY_MS),
    signingAlgorithm: EC_ALG,
    publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return keyPkcs8 === undefined ? { certPem: cert.toString('pem') } : { certPem: cert.toString('pem'), keyPkcs8 };
}

/** SHA-256 of the DER certificate, lower-case hex: what clients pin. */
export function certificateFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}
