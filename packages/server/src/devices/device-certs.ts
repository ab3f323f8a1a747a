import 'reflect-metadata';
import { X509Certificate, type webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { issueCertificate, type Issued } from '../tls/ca.js';
import { DeviceError } from './device-errors.js';

const MAX_CSR_BYTES = 8 * 1024;

export interface IssuedDeviceCert {
  certPem: string;
  keyPkcs8?: Uint8Array;
  serial: string;
  sha256: string;
  expiresAt: number;
}

function facts(certPem: string): { serial: string; sha256: string; expiresAt: number } {
  const c = new X509Certificate(certPem);
  return { serial: c.serialNumber.toLowerCase(), sha256: c.fingerprint256.replaceAll(':', '').toLowerCase(), expiresAt: Date.parse(c.validTo) };
}

/** A client certificate for `device`, with a key made here (the single-use provisioning certificate). */
export async function issueProvisioningCert(ca: Issued, device: string, validityMinutes: number, now: Date): Promise<IssuedDeviceCert> {
  const issued = await issueCertificate(ca, { commonName: device, usage: 'client', validityDays: validityMinutes / 1440 }, now);
  return { certPem: issued.certPem, ...(issued.keyPkcs8 === undefined ? {} : { keyPkcs8: issued.keyPkcs8 }), ...facts(issued.certPem) };
}

/**
 * An operational certificate for the key in a CSR (the device generated the
 * key and keeps it): the CSR must be well-formed, self-signed by that key,
 * and name exactly this device (issue 5: a CSR for another device's name is refused).
 */
export async function issueFromCsr(ca: Issued, device: string, csrPem: string, validityDays: number, now: Date): Promise<IssuedDeviceCert> {
  if (csrPem.length > MAX_CSR_BYTES) throw new DeviceError('CSR_INVALID', `The CSR is larger than ${MAX_CSR_BYTES} bytes.`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new DeviceError('CSR_INVALID', 'The CSR is not a PEM PKCS#10 request.', { cause: err });
  }
  // RFC 2986 4.2: the request is signed with the key it asks a certificate for.
  if (!(await csr.verify())) throw new DeviceError('CSR_INVALID', 'The CSR signature does not verify.');
  const cn = csr.subjectName.getField('CN');
  if (cn.length !== 1 || cn[0] !== device) {
    throw new DeviceError('CSR_NAME_MISMATCH', `The CSR must name this device (CN=${device}); a device cannot ask for another device's certificate.`);
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw new DeviceError('CSR_INVALID', 'Device keys must be ECDSA P-256.');
  // @peculiar/x509 types the key with the DOM's CryptoKey; at run time it is Node's webcrypto key.
  const publicKey = (await csr.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify'])) as unknown as webcrypto.CryptoKey;
  const issued = await issueCertificate(ca, { commonName: device, usage: 'client', validityDays, publicKey }, now);
  return { certPem: issued.certPem, ...facts(issued.certPem) };
}
