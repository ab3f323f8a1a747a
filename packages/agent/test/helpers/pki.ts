import 'reflect-metadata';
import { X509Certificate, createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TestCa {
  certPem: string;
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

export interface Leaf {
  certPem: string;
  keyPem: string;
  serial: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

function serial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] ?? 0) & 0x7f;
  return Buffer.from(b).toString('hex');
}

/** A throwaway CA, minted per test run (no fixtures checked in). */
export async function createCa(name = 'Test CA'): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [name] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: EC_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keys, cert };
}

export interface LeafOptions {
  commonName: string;
  usage: 'server' | 'client';
  names?: string[];
  /** From a CSR; otherwise a key pair is made here. */
  publicKey?: webcrypto.CryptoKey;
  notBefore?: Date;
  notAfter?: Date;
}

export async function issue(ca: TestCa, o: LeafOptions): Promise<Leaf> {
  let publicKey = o.publicKey;
  let keyPem = '';
  if (publicKey === undefined) {
    const keys = await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
    publicKey = keys.publicKey;
    keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  }
  const now = Date.now();
  const sn = serial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: sn,
    subject: [{ CN: [o.commonName] }],
    issuer: ca.cert.subject,
    notBefore: o.notBefore ?? new Date(now - 60_000),
    notAfter: o.notAfter ?? new Date(now + 86_400_000),
    signingAlgorithm: EC_ALG,
    publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [o.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      ...(o.names === undefined
        ? []
        : [
            new x509.SubjectAlternativeNameExtension(
              o.names.map((n) => (/^[\d.]+$/.test(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
              false,
            ),
          ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem, serial: normalSerial(sn) };
}

/** Serial numbers as node:crypto's X509Certificate shows them: upper-case hex without leading zeros, here lower-cased. */
export function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

export function sha256Hex(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

/** Verifies a PKCS#10 request and returns its CN and public key (what a CA does first). */
export async function readCsr(
  csrPem: string,
): Promise<{ cn: string; publicKey: webcrypto.CryptoKey; valid: boolean; curve: string | undefined }> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const valid = await csr.verify();
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  const publicKey = await csr.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify']);
  return { cn: csr.subjectName.getField('CN')[0] ?? '', publicKey, valid, curve: alg.namedCurve };
}
