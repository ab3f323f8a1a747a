import { Encrypter } from 'age-encryption';
import type { ProvisioningArchive } from '../../src/archive/archive.js';

/**
 * An age archive as `sightline device provision` writes it (scrypt
 * passphrase recipient), with a low work factor so tests stay fast; the
 * production default (2^18) is exercised once in the archive tests.
 */
export async function sealArchive(content: unknown, passphrase: string, logN = 10): Promise<Uint8Array> {
  const e = new Encrypter();
  e.setPassphrase(passphrase);
  e.setScryptWorkFactor(logN);
  return e.encrypt(typeof content === 'string' ? content : JSON.stringify(content));
}

export function sampleArchive(over: Partial<ProvisioningArchive> = {}): ProvisioningArchive {
  return {
    v: 1,
    device: 'cam-01',
    project: 'shop-1',
    controlPlane: { url: 'https://127.0.0.1:8443', serverCertSha256: 'a'.repeat(64) },
    caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    provisioning: { certPem: 'cert', keyPem: 'key', expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
    network: { mode: 'dhcp' },
    ntp: ['pool.ntp.org'],
    createdAt: new Date().toISOString(),
    ...over,
  };
}
