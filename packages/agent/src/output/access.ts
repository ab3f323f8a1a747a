import 'reflect-metadata';
import { X509Certificate, createHash, randomBytes, webcrypto } from 'node:crypto';
import { hostname } from 'node:os';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import { keyPem } from '../identity/keys.js';
import type { EncryptedStore } from '../storage/store.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Store record of the local status page's access: its bearer token and TLS key pair. */
export const LOCAL_ACCESS_RECORD = 'local-access';
const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** Renewed this long before it expires. */
const RENEW_BEFORE_MS = 30 * 86_400_000;
const VALIDITY_MS = 397 * 86_400_000;

const localAccess = z
  .object({
    v: z.literal(1),
    /** 32 random bytes, base64url: the bearer token of the local pages. */
    token: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    certPem: z.string(),
    /** PKCS#8 DER, base64; only ever inside the sealed record. */
    keyPkcs8: z.string(),
  })
  .strict();
export type LocalAccessRecord = z.infer<typeof localAccess>;

export interface LocalAccess {
  readonly token: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** SHA-256 of the certificate (DER), hex: what a viewer pins (`curl --pinnedpubkey` takes the key's; browsers show this). */
  readonly certSha256: string;
}

async function selfSigned(now: number): Promise<{ certPem: string; keyPkcs8: string }> {
  const keys = await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
  const host = hostname();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: [{ CN: [`sightline-agent ${host}`] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + VALIDITY_MS),
    signingAlgorithm: EC_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        [
          { type: 'dns', value: 'localhost' },
          { type: 'dns', value: host },
          { type: 'ip', value: '127.0.0.1' },
        ],
        false,
      ),
    ],
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { certPem: cert.toString('pem'), keyPkcs8: der.toString('base64') };
}

function view(r: LocalAccessRecord): LocalAccess {
  const c = new X509Certificate(r.certPem);
  return {
    token: r.token,
    certPem: r.certPem,
    keyPem: keyPem(Buffer.from(r.keyPkcs8, 'base64')),
    certSha256: createHash('sha256').update(c.raw).digest('hex'),
  };
}

/** The local access record if the agent made one (for `sightline-agent status`). */
export async function readLocalAccess(store: EncryptedStore): Promise<LocalAccess | undefined> {
  const r = await store.readJson(LOCAL_ACCESS_RECORD, localAccess);
  return r === undefined ? undefined : view(r);
}

/**
 * The local status page's access, made on first use and kept sealed in the
 * agent's store (seed point 12): a random bearer token and a self-signed
 * P-256 certificate for this appliance. Self-signed rather than the device's
 * operational certificate: that one is a client certificate (clientAuth only)
 * from the fleet CA, and its key must serve one purpose only. A viewer pins
 * the fingerprint `sightline-agent status` prints. The certificate is renewed
 * (same token) a month before it expires.
 */
export async function loadOrCreateLocalAccess(store: EncryptedStore, now: number = Date.now()): Promise<LocalAccess> {
  const existing = await store.readJson(LOCAL_ACCESS_RECORD, localAccess);
  if (existing !== undefined && Date.parse(new X509Certificate(existing.certPem).validTo) - RENEW_BEFORE_MS > now) return view(existing);
  const tls = await selfSigned(now);
  const record: LocalAccessRecord = { v: 1, token: existing?.token ?? randomBytes(32).toString('base64url'), ...tls };
  await store.writeJson(LOCAL_ACCESS_RECORD, record);
  return view(record);
}
