import { chmod, lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from './errors.js';
import { findTool, run } from './exec.js';
import { chownTree } from './ownership.js';
import { parseMountinfo } from './probe.js';
import type { DiskQuotaMethod } from './types.js';

const MiB = 1024 * 1024;
/** Below this an ext4 journal would take most of the image. */
const JOURNAL_MIN_MiB = 64;

export interface StorageRequest {
  readonly storageDir: string;
  /** Where the image lives (agent-only folder); used by `loop-image`. */
  readonly imagePath: string;
  readonly diskMiB: number;
  /** Owner the app runs as; null: leave ownership alone (agent not root). */
  readonly owner: { readonly uid: number; readonly gid: number } | null;
}

/** The storage folder with its quota in force until release(). */
export interface StorageQuota {
  readonly method: DiskQuotaMethod;
  /** `measure` only: true when the folder holds more than the quota. */
  overLimit(): Promise<boolean>;
  /** Unmounts (loop-image); safe to call twice. */
  release(): Promise<void>;
}

async function isMountPoint(path: string): Promise<boolean> {
  try {
    return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8')).some((m) => m.point === path);
  } catch {
    return false;
  }
}

/** Bytes on disk under a folder (blocks, not lengths: a sparse file counts what it uses). */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    total += st.blocks * 512;
    if (!st.isDirectory()) return;
    for (const name of await readdir(path)) await walk(join(path, name)).catch(() => undefined);
  };
  await walk(dir).catch(() => undefined);
  return total;
}

async function ownFolder(dir: string, owner: StorageRequest['owner']): Promise<void> {
  if (owner === null) return;
  const st = await stat(dir);
  if (st.uid !== owner.uid || st.gid !== owner.gid) await chownTree(dir, owner.uid, owner.gid);
  await chmod(dir, 0o700);
}

/** Unmounts whatever is mounted on the storage folder (a quota image); nothing when nothing is. */
export async function unmountStorage(dir: string): Promise<void> {
  for (let i = 0; i < 5 && (await isMountPoint(dir)); i++) {
    try {
      await run('umount', [dir]);
    } catch {
      await new Promise((r) => setTimeout(r, 100 * (i + 1)));
    }
  }
  // Last resort: detach now, the kernel frees the image when the last user is gone.
  if (await isMountPoint(dir)) await run('umount', ['-l', dir]);
}

/** Makes the image, or resizes it to a changed quota (resize2fs refuses to shrink below the data). */
async function prepareImage(r: StorageRequest, bytes: number): Promise<void> {
  const current = await stat(r.imagePath).catch(() => null);
  if (current === null) {
    if ((await readdir(r.storageDir)).length > 0) {
      throw new SandboxError(
        'SANDBOX_DISK_QUOTA_FAILED',
        `The storage folder ${r.storageDir} already holds files but has no quota image; empty it (or move the files away) before the node starts.`,
      );
    }
    const mkfs = (await findTool('mkfs.ext4')) ?? 'mkfs.ext4';
    await writeFile(r.imagePath, '', { mode: 0o600 });
    await run('truncate', ['-s', String(bytes), r.imagePath]);
    const journal = r.diskMiB >= JOURNAL_MIN_MiB ? [] : ['-O', '^has_journal'];
    const rootOwner = r.owner === null ? [] : ['-E', `root_owner=${r.owner.uid}:${r.owner.gid}`];
    await run(mkfs, ['-q', '-F', '-m', '0', ...journal, ...rootOwner, r.imagePath]);
    return;
  }
  if (current.size === bytes) return;
  await run((await findTool('e2fsck')) ?? 'e2fsck', ['-f', '-p', r.imagePath]).catch(() => undefined);
  const resize = (await findTool('resize2fs')) ?? 'resize2fs';
  if (bytes > current.size) {
    await run('truncate', ['-s', String(bytes), r.imagePath]);
    await run(resize, [r.imagePath]);
  } else {
    await run(resize, [r.imagePath, `${bytes / 1024}K`]);
    await run('truncate', ['-s', String(bytes), r.imagePath]);
  }
}

/**
 * Puts the storage folder's quota in force. `loop-image`: a fixed-size ext4
 * image (kept between runs, so storage persists) mounted nosuid,nodev,noexec
 * on the folder: the kernel refuses writes past it. `measure`: nothing is
 * mounted; the caller polls overLimit() and stops the app.
 * Seed point 15: an app's disk use is bounded.
 */
export async function prepareStorage(method: DiskQuotaMethod, r: StorageRequest): Promise<StorageQuota> {
  await mkdir(r.storageDir, { recursive: true, mode: 0o700 });
  if (method === 'measure') {
    await ownFolder(r.storageDir, r.owner);
    return {
      method,
      overLimit: async () => (await diskUsage(r.storageDir)) > r.diskMiB * MiB,
      release: () => Promise.resolve(),
    };
  }
  try {
    // A mount left by an agent that crashed.
    await unmountStorage(r.storageDir);
    const bytes = Math.max(1, r.diskMiB) * MiB;
    await prepareImage(r, bytes);
    // A quota of 0: an image mounted read-only, so the app can write nothing.
    const opts = ['loop', 'nosuid', 'nodev', 'noexec', ...(r.diskMiB === 0 ? ['ro'] : [])].join(',');
    await run('mount', ['-o', opts, r.imagePath, r.storageDir]);
    if (r.diskMiB > 0) await ownFolder(r.storageDir, r.owner);
  } catch (err) {
    await unmountStorage(r.storageDir).catch(() => undefined);
    if (err instanceof SandboxError) throw err;
    throw new SandboxError('SANDBOX_DISK_QUOTA_FAILED', `Could not mount the quota image on ${r.storageDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let released = false;
  return {
    method,
    overLimit: () => Promise.resolve(false),
    release: async () => {
      if (released) return;
      released = true;
      await unmountStorage(r.storageDir);
    },
  };
}
