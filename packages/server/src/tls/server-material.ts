import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { RootKey } from '../keys/root-key.js';
import { createCertificateAuthority, issueCertificate, pkcs8ToPem, type Issued } from './ca.js';
import { TlsSetupError } from './tls-options.js';

/** Files in the data folder. Only `ca.pem` and `tls/server.pem` are public; keys are sealed. */
export const CA_CERT_FILE = 'ca.pem';
const CA_KEY_FILE = join('tls', 'ca-key.sealed');
const SERVER_CERT_FILE = join('tls', 'server.pem');
const SERVER_KEY_FILE = join('tls', 'server-key.sealed');
const CA_KEY_CONTEXT = 'ca-key';
const SERVER_KEY_CONTEXT = 'server-tls-key';

export function defaultServerNames(extra: readonly string[]): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...extra])];
}

/** Creates the internal CA and a server certificate for `names`; keys are sealed under the root key. */
export async function createServerMaterial(dataDir: string, rootKey: RootKey, names: readonly string[]): Promise<{ caPem: string }> {
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  const ca = await createCertificateAuthority('Sightline internal CA');
  const server = await issueCertificate(ca, { commonName: names[0] ?? 'localhost', names: [...names], usage: 'server', validityDays: 397 });
  writeFileSync(join(dataDir, CA_CERT_FILE), ca.certPem, { mode: 0o644 });
  writeFileSync(join(dataDir, CA_KEY_FILE), rootKey.seal(ca.keyPkcs8, CA_KEY_CONTEXT), { mode: 0o600 });
  writeFileSync(join(dataDir, SERVER_CERT_FILE), server.certPem, { mode: 0o644 });
  writeFileSync(join(dataDir, SERVER_KEY_FILE), rootKey.seal(server.keyPkcs8 ?? new Uint8Array(), SERVER_KEY_CONTEXT), { mode: 0o600 });
  return { caPem: ca.certPem };
}

/** The CA (certificate and unsealed key, in memory only), for issuing device certificates later. */
export function loadCertificateAuthority(dataDir: string, rootKey: RootKey): Issued {
  return {
    certPem: readFileSync(join(dataDir, CA_CERT_FILE), 'utf8'),
    keyPkcs8: new Uint8Array(rootKey.open(readFileSync(join(dataDir, CA_KEY_FILE), 'utf8'), CA_KEY_CONTEXT)),
  };
}

/** The certificate chain and key the HTTPS listener uses: bring-your-own from config, or the generated pair. */
export function loadServerMaterial(config: Config, rootKey: RootKey): { cert: string; key: string; caPem: string | undefined } {
  const caFile = join(config.dataDir, CA_CERT_FILE);
  const caPem = existsSync(caFile) ? readFileSync(caFile, 'utf8') : undefined;
  if (config.tls.certFile !== undefined && config.tls.keyFile !== undefined) {
    try {
      return { cert: readFileSync(config.tls.certFile, 'utf8'), key: readFileSync(config.tls.keyFile, 'utf8'), caPem };
    } catch (err) {
      throw new TlsSetupError('TLS_MATERIAL_INVALID', 'tls.certFile or tls.keyFile cannot be read; check the paths and permissions.', { cause: err });
    }
  }
  const certFile = join(config.dataDir, SERVER_CERT_FILE);
  const keyFile = join(config.dataDir, SERVER_KEY_FILE);
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    throw new TlsSetupError('TLS_MATERIAL_INVALID', `No server certificate in ${config.dataDir}; run "sightline server init --data-dir ${config.dataDir}" first, or set tls.certFile and tls.keyFile.`);
  }
  const keyDer = rootKey.open(readFileSync(keyFile, 'utf8'), SERVER_KEY_CONTEXT);
  return { cert: readFileSync(certFile, 'utf8'), key: pkcs8ToPem(keyDer), caPem };
}
