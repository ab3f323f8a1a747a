import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SightlineError } from '@sightline/core';
import { buildServices } from '../app.js';
import { CONFIG_FILE, loadConfig, storageUrl } from '../config/config.js';
import { RootKey } from '../keys/root-key.js';
import { openDatabase } from '../storage/database.js';
import { CA_CERT_FILE, createServerMaterial, defaultServerNames } from '../tls/server-material.js';
import { certificateFingerprint } from '../tls/ca.js';

export class InitError extends SightlineError<'ALREADY_INITIALIZED'> {}

export interface InitOptions {
  dataDir: string;
  adminName?: string;
  /** Extra DNS names / IPs for the server certificate. */
  names?: string[];
  port?: number;
  storageUrl?: string;
  /** Derive the root key from this passphrase (scrypt) instead of keeping a key file. */
  rootPassphrase?: string;
  env?: NodeJS.ProcessEnv;
}

export interface InitResult {
  dataDir: string;
  url: string;
  caFile: string;
  caFingerprint: string;
  admin: { name: string; password: string; totpSecret: string; otpauthUri: string };
}

/**
 * `sightline server init`: a data folder with config, root key, internal CA,
 * server certificate, database, the default project, and the first admin
 * (password and TOTP seed returned once, never stored in plaintext).
 */
export async function initDataDir(options: InitOptions): Promise<InitResult> {
  const dataDir = resolve(options.dataDir);
  if (existsSync(join(dataDir, CONFIG_FILE)) || existsSync(join(dataDir, 'root.key'))) {
    throw new InitError('ALREADY_INITIALIZED', `${dataDir} already holds a Sightline server; use "sightline server start --data-dir ${dataDir}" or pick an empty folder.`);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const fileConfig: Record<string, unknown> = {
    server: { port: options.port ?? 8443 },
    tls: { minVersion: '1.2', extraNames: options.names ?? [] },
    ...(options.storageUrl === undefined ? {} : { storage: { url: options.storageUrl } }),
  };
  writeFileSync(join(dataDir, CONFIG_FILE), `${JSON.stringify(fileConfig, null, 2)}\n`, { mode: 0o600 });
  const config = loadConfig(dataDir, options.env ?? process.env);
  const rootKey = options.rootPassphrase === undefined ? RootKey.create(dataDir) : RootKey.createFromPassphrase(dataDir, options.rootPassphrase);
  const { caPem } = await createServerMaterial(dataDir, rootKey, defaultServerNames(config.tls.extraNames));
  const db = await openDatabase({ url: storageUrl(config) });
  try {
    const s = buildServices(config, db, rootKey);
    const adminName = options.adminName ?? 'admin';
    await s.audit.start();
    const created = await s.store.transaction(async () => {
      await s.projects.create('default', 'The project every resource goes to unless another is named');
      const user = await s.users.create({ name: adminName, enrollTotp: true, roles: [{ role: 'Admin', project: '*' }] });
      // The first event of the log: who was made administrator, and by what.
      await s.audit.record({
        requestId: 'server-init',
        time: Date.now(),
        principal: { type: 'anonymous', id: 'system', name: 'sightline server init' },
        action: 'server:Init',
        resource: `srn:sightline::user/${adminName}`,
        sourceIp: '127.0.0.1',
        userAgent: 'sightline-cli',
        outcome: 'allowed',
        parameters: { admin: adminName, roles: ['Admin@*'] },
      });
      return user;
    });
    await s.audit.checkpoint();
    await s.audit.stop();
    if (created.initialPassword === undefined || created.totp === undefined) throw new Error('admin credentials were not generated');
    return {
      dataDir,
      url: config.server.publicUrl ?? `https://localhost:${config.server.port}`,
      caFile: join(dataDir, CA_CERT_FILE),
      caFingerprint: certificateFingerprint(caPem),
      admin: { name: adminName, password: created.initialPassword, totpSecret: created.totp.secret, otpauthUri: created.totp.otpauthUri },
    };
  } finally {
    await db.close();
  }
}
