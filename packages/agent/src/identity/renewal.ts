import type { DeviceClient } from '../client/device-client.js';
import type { TlsIdentity } from '../client/fetcher.js';
import type { IdentityRecord } from '../storage/records.js';
import { generateDeviceKey, keyPem, renewAt, verifyIssuedCertificate } from './keys.js';

export function tlsIdentityOf(identity: IdentityRecord): TlsIdentity {
  return {
    url: identity.controlPlane.url,
    serverCertSha256: identity.controlPlane.serverCertSha256,
    caPem: identity.serverCaPem,
    certPem: identity.certPem,
    keyPem: keyPem(Buffer.from(identity.keyPkcs8, 'base64')),
  };
}

export function renewalDue(identity: IdentityRecord, now: number): boolean {
  return now >= renewAt(identity.certPem);
}

/**
 * Renews the operational certificate with a new key pair each time (issue 5:
 * renewed automatically at two thirds of its life). The caller stores the
 * result before using it, so a crash leaves the old, still valid, pair.
 */
export async function renewIdentity(client: DeviceClient, identity: IdentityRecord, now: Date): Promise<IdentityRecord> {
  const key = await generateDeviceKey(identity.device);
  const answer = await client.renew(key.csrPem);
  verifyIssuedCertificate(answer.certPem, key.keyPkcs8, identity.deviceCaPem, identity.device, now.getTime());
  const next: IdentityRecord = {
    ...identity,
    certPem: answer.certPem,
    keyPkcs8: key.keyPkcs8.toString('base64'),
    expiresAt: answer.expiresAt,
    renewedAt: now.toISOString(),
  };
  key.keyPkcs8.fill(0);
  return next;
}
