import { existsSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decryptArchive, deleteArchiveFile, readArchiveFile } from '../archive/archive.js';
import { DeviceClient } from '../client/device-client.js';
import type { Fetcher, TlsIdentity } from '../client/fetcher.js';
import { AgentError } from '../errors.js';
import { ensurePrivateDir, layout } from '../storage/data-dir.js';
import { acquireLock } from '../storage/lock.js';
import { RECORD, emptyState, type IdentityRecord } from '../storage/records.js';
import { RootKeyManager, type RootKeyMode, type RootKeyProtection } from '../storage/root-key.js';
import { EncryptedStore } from '../storage/store.js';
import type { Tpm } from '../storage/tpm.js';
import { generateDeviceKey, verifyIssuedCertificate } from './keys.js';
import { loadRoot } from '../update/release.js';
import { installTrustedRoot } from '../update/updater.js';

export interface RegisterOptions {
  dataDir: string;
  archivePath: string;
  passphrase: string;
  rootKeyMode: RootKeyMode;
  tpm: Tpm;
  fetcherFactory: (identity: TlsIdentity) => Fetcher;
  now: () => Date;
}

export interface RegisterResult {
  deviceId: string;
  device: string;
  project: string;
  controlPlaneUrl: string;
  certificateExpiresAt: string;
  rootKeyProtection: RootKeyProtection;
  tpmHandle?: string;
  archive: { path: string; deleted: boolean; reason?: string };
}

export function isRegistered(dataDir: string): boolean {
  return existsSync(join(layout(dataDir).store, `${RECORD.identity}.sealed`));
}

/**
 * `sightline-agent register` (issue 5): decrypt the archive, make the device
 * key pair here, ask the control plane for the operational certificate with
 * the provisioning certificate, then store it all sealed under a new root key.
 *
 * Nothing half-registered: the identity record is written (atomically) only
 * after the control plane answered and the answer verified; on any failure
 * the root key made for this attempt is destroyed and the data folder is left
 * as it was.
 */
export async function register(opts: RegisterOptions): Promise<RegisterResult> {
  const paths = layout(opts.dataDir);
  if (isRegistered(opts.dataDir)) {
    throw new AgentError(
      'ALREADY_REGISTERED',
      `The agent in ${paths.root} is already registered; run sightline-agent reset --full first to register it again.`,
    );
  }
  // Everything that can fail without the network, first: nothing is written before the archive opened.
  const archive = await decryptArchive(await readArchiveFile(opts.archivePath), opts.passphrase);
  // The update trust anchor (issue 7): a root that does not verify under its own keys refuses the archive here, before any registration.
  const tufRoot = archive.tufRoot === undefined ? undefined : Buffer.from(archive.tufRoot, 'base64');
  if (tufRoot !== undefined) {
    try {
      loadRoot(tufRoot, 'the archive\'s TUF root');
    } catch (err) {
      throw new AgentError('ARCHIVE_INVALID', 'The archive carries a TUF root that does not verify; provision the device anew.', { cause: err });
    }
  }

  const dirExisted = existsSync(paths.root);
  await ensurePrivateDir(paths.root);
  const release = await acquireLock(paths.root);
  const rootKeys = new RootKeyManager(paths.root, opts.tpm);
  let client: DeviceClient | undefined;
  let committed = false;
  try {
    // A root key with no identity is what a crash mid-registration leaves: crypto-erase it and start over.
    if ((await rootKeys.describe()) !== undefined) await rootKeys.destroy();
    // The TPM is asked before the provisioning certificate is spent, so a TPM failure costs nothing.
    const root = await rootKeys.create(opts.rootKeyMode, opts.now());
    const deviceKey = await generateDeviceKey(archive.device);

    client = new DeviceClient(
      opts.fetcherFactory({
        url: archive.controlPlane.url,
        serverCertSha256: archive.controlPlane.serverCertSha256,
        caPem: archive.caPem,
        certPem: archive.provisioning.certPem,
        keyPem: archive.provisioning.keyPem,
      }),
    );
    const answer = await client.register(deviceKey.csrPem);
    if (answer.device !== archive.device) {
      throw new AgentError(
        'RESPONSE_INVALID',
        `The control plane registered "${answer.device}", not the archive's device "${archive.device}".`,
      );
    }
    verifyIssuedCertificate(answer.certPem, deviceKey.keyPkcs8, answer.caPem, archive.device, opts.now().getTime());

    const identity: IdentityRecord = {
      v: 1,
      deviceId: answer.deviceId,
      device: answer.device,
      project: answer.project,
      controlPlane: { url: archive.controlPlane.url, serverCertSha256: archive.controlPlane.serverCertSha256 },
      serverCaPem: archive.caPem,
      deviceCaPem: answer.caPem,
      certPem: answer.certPem,
      keyPkcs8: deviceKey.keyPkcs8.toString('base64'),
      expiresAt: answer.expiresAt,
      network: archive.network,
      ntp: archive.ntp,
      registeredAt: opts.now().toISOString(),
    };
    deviceKey.keyPkcs8.fill(0);
    const store = new EncryptedStore(paths.store, root.key);
    await store.writeJson(RECORD.state, emptyState());
    if (tufRoot !== undefined) await installTrustedRoot(store, tufRoot);
    // The identity record is the commit point: `isRegistered` looks for it alone.
    await store.writeJson(RECORD.identity, identity);
    committed = true;
    root.key.fill(0);

    const deleted = await deleteArchiveFile(opts.archivePath);
    return {
      deviceId: answer.deviceId,
      device: answer.device,
      project: answer.project,
      controlPlaneUrl: archive.controlPlane.url,
      certificateExpiresAt: answer.expiresAt,
      rootKeyProtection: root.meta.protection,
      ...(root.meta.protection === 'tpm' ? { tpmHandle: root.meta.handle } : {}),
      archive: { path: opts.archivePath, deleted: deleted.deleted, ...(deleted.deleted ? {} : { reason: deleted.reason }) },
    };
  } finally {
    client?.close();
    if (!committed) {
      await rootKeys.destroy().catch(() => undefined);
      await rm(paths.store, { recursive: true, force: true });
    }
    await release();
    if (!committed && !dirExisted) {
      const left = await readdir(paths.root).catch(() => ['?']);
      if (left.length === 0) await rmdir(paths.root).catch(() => undefined);
    }
  }
}
