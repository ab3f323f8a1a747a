import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SandboxError } from './errors.js';

/** Gives a tree to the app's uid (ids change between agent runs; the data stays the app's). */
export async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  const st = await lstat(path);
  if (st.uid !== uid || st.gid !== gid) await lchown(path, uid, gid);
  if (st.isDirectory()) for (const name of await readdir(path)) await chownTree(join(path, name), uid, gid);
}

/**
 * Lets one app's group read its package and nobody else (but the agent):
 * group = the app's gid, folders 0750, files 0440 (packages are immutable), owner unchanged. Seed
 * point 16: app assets are isolated from each other, also by file
 * permissions, not only by the sandbox's view. Symbolic links are left
 * alone (the package verifier refuses them anyway).
 */
export async function lendTreeToGroup(path: string, gid: number): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  if (st.gid !== gid) await lchown(path, st.uid, gid);
  const mode = st.isDirectory() ? 0o750 : 0o440;
  if ((st.mode & 0o7777) !== mode) await chmod(path, mode);
  if (st.isDirectory()) for (const name of await readdir(path)) await lendTreeToGroup(join(path, name), gid);
}

/**
 * The app's uid must be able to pass through every folder above the paths it
 * is given (bubblewrap binds them as that uid; without bubblewrap the app
 * opens them itself). Checked up front so a layout mistake is one clear
 * error, not a sandbox that fails obscurely. Passing through needs only x:
 * a data folder of mode 0711 lets apps reach their folders without listing
 * it, while the key folder stays 0700.
 */
export async function assertReachable(paths: readonly string[], uid: number, gid: number): Promise<void> {
  const checked = new Set<string>();
  for (const path of paths) {
    const closed = await blockingFolder(path, uid, gid, checked);
    if (closed === undefined) continue;
    throw new SandboxError(
      'SANDBOX_SPEC_INVALID',
      `The app's uid ${uid} cannot pass through ${closed.folder} (mode ${closed.mode.toString(8).padStart(4, '0')}) to reach ${path}: ` +
        'give the folders above app folders o+x (e.g. 0711: pass through, no listing); keep key folders 0700.',
      { details: { folder: closed.folder } },
    );
  }
}

/**
 * The first folder above `path` (nearest first) that `uid`/`gid` cannot
 * pass through (no x bit for them), with its permission bits; undefined
 * when every existing one lets them through. Folders in `checked` were
 * passed already and are not looked at again (nor anything above them).
 *
 * @example
 * ```ts
 * await blockingFolder('/root/sightline/.sightline-demo-appliance', 61000, 61000); // { folder: '/root', mode: 0o700 }
 * ```
 */
export async function blockingFolder(
  path: string,
  uid: number,
  gid: number,
  checked = new Set<string>(),
): Promise<{ folder: string; mode: number } | undefined> {
  for (let dir = dirname(path); !checked.has(dir); dir = dirname(dir)) {
    checked.add(dir);
    const st = await lstat(dir).catch(() => null);
    if (st !== null) {
      const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
      if ((st.mode & bit) === 0) return { folder: dir, mode: st.mode & 0o777 };
    }
    if (dir === '/') break;
  }
  return undefined;
}
