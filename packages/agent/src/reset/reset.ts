import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { layout } from '../storage/data-dir.js';
import { RootKeyManager } from '../storage/root-key.js';
import type { Tpm } from '../storage/tpm.js';

export interface ResetReport {
  /** False when the TPM object could not be evicted (the wipe still happened; `detail` says what to run). */
  rootKeyDestroyed: boolean;
  detail: string;
  wiped: string[];
}

/**
 * Full reset (seed point 14, issue 5): crypto-erase first, destroying the
 * root key so nothing sealed under it can ever be opened again, then wipe the
 * data folder, leaving the agent unprovisioned. The folder itself stays (it
 * belongs to systemd's StateDirectory); the caller's lock file stays until the
 * caller releases it.
 */
export async function fullReset(dataDir: string, tpm: Tpm): Promise<ResetReport> {
  const paths = layout(dataDir);
  const rootKey = await new RootKeyManager(paths.root, tpm).destroy();
  let names: string[];
  try {
    names = await readdir(paths.root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { rootKeyDestroyed: rootKey.destroyed, detail: rootKey.detail, wiped: [] };
    throw err;
  }
  const wiped: string[] = [];
  for (const name of names.sort()) {
    if (join(paths.root, name) === paths.lock) continue;
    await rm(join(paths.root, name), { recursive: true, force: true });
    wiped.push(name);
  }
  return { rootKeyDestroyed: rootKey.destroyed, detail: rootKey.detail, wiped };
}
