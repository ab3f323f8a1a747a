import { chmod, mkdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** A code node's writable storage folder inside its instance's folder. */
export const nodeStorageDir = (instanceDir: string, node: string): string => join(instanceDir, 'storage', node);

/**
 * Makes `dir` and every folder from `base` down to it mode 0711: an app
 * running under its own uid may pass through to its own folders (bound
 * read-only or read-write by the sandbox) but list nothing on the way. Key
 * material stays in 0700 folders and 0600 files beside them.
 */
export async function passThroughDirs(base: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o711 });
  const rel = relative(base, dir);
  if (rel.startsWith('..')) throw new Error(`${dir} is not inside ${base}`);
  let p = base;
  await chmod(p, 0o711);
  for (const part of rel === '' ? [] : rel.split(sep)) {
    p = join(p, part);
    await chmod(p, 0o711);
  }
}
