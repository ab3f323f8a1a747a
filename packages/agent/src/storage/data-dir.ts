import { chmod, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Where everything lives under the data folder. Only `root-key.json` and `agent.lock` hold plaintext, and no secret. */
export interface DataDirLayout {
  root: string;
  /** How the root key is protected (TPM handle or key file); no key material. */
  rootKeyMeta: string;
  /** The root key itself, in key-file mode only (0600). */
  rootKeyFile: string;
  /** Sealed records: identity, state, status. */
  store: string;
  /** Sealed log segments waiting to be shipped. */
  spool: string;
  /** The running agent's pid, so reset/register refuse while it runs. */
  lock: string;
}

export function layout(dataDir: string): DataDirLayout {
  const root = resolve(dataDir);
  return {
    root,
    rootKeyMeta: join(root, 'root-key.json'),
    rootKeyFile: join(root, 'root.key'),
    store: join(root, 'store'),
    spool: join(root, 'spool'),
    lock: join(root, 'agent.lock'),
  };
}

/** Creates a folder readable by the agent's user only. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}
