import { createHash } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ReleaseError, readBundle, type BundleManifest } from '@sightline/core';
import { MANIFEST_FILE, walkTree } from '../integrity/manifest.js';
import { UpdateError } from './errors.js';

export type { BundleManifest };

/** The agent's entry point inside a bundle: what the launcher runs. */
export const BUNDLE_ENTRY = 'bin/sightline-agent.js';
/** Largest bundle the agent accepts (the signed length caps the download first). */
export const MAX_BUNDLE_BYTES = 512 * 1024 * 1024;

/**
 * Opens a release bundle (core's format: ustar, `manifest.json` first, each
 * file's size and SHA-256) and, when `dest` is given, writes its files under
 * `dest`. Nothing is written unless the whole bundle verifies; the paths were
 * checked by core never to leave `dest`.
 */
export async function openBundle(tarPath: string, dest?: string): Promise<BundleManifest> {
  const size = (await stat(tarPath)).size;
  if (size > MAX_BUNDLE_BYTES) throw new UpdateError('UPDATE_BUNDLE_INVALID', `The bundle is larger than ${MAX_BUNDLE_BYTES} bytes.`);
  let opened: ReturnType<typeof readBundle>;
  try {
    opened = readBundle(await readFile(tarPath), { maxBytes: MAX_BUNDLE_BYTES });
  } catch (err) {
    if (err instanceof ReleaseError)
      throw new UpdateError('UPDATE_BUNDLE_INVALID', `The agent bundle is not valid (${err.code}: ${err.message})`, { cause: err });
    throw err;
  }
  if (dest !== undefined) {
    for (const f of opened.manifest.files) {
      const data = opened.files.get(f.path);
      if (data === undefined) continue;
      const target = join(dest, f.path);
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      const out = await open(target, 'wx', f.mode & 0o111 ? 0o755 : 0o644);
      try {
        await out.writeFile(data);
        await out.sync();
      } finally {
        await out.close();
      }
    }
  }
  return opened.manifest;
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Checks an unpacked slot: exactly the manifest's files, each with its SHA-256 (the launcher's check before a boot). */
export async function verifyTree(root: string, manifest: BundleManifest): Promise<void> {
  const fail = (why: string): UpdateError => new UpdateError('SLOT_UNVERIFIED', `${root}: ${why}.`);
  const tree = await walkTree(root).catch((err: unknown) => {
    throw new UpdateError('SLOT_UNVERIFIED', `${root} cannot be read (${err instanceof Error ? err.message : String(err)}).`, {
      cause: err,
    });
  });
  const listed = new Map(manifest.files.map((f) => [f.path, f.sha256]));
  for (const [path, entry] of tree) {
    if (entry.kind !== 'file') throw fail(`${path} is not a regular file`);
    if (!listed.has(path)) throw fail(`${path} is not in the bundle manifest`);
    if (entry.sha256 !== listed.get(path)) throw fail(`${path} differs from the bundle manifest`);
  }
  // walkTree leaves out the integrity manifest's own name; hash any listed file it did not report.
  if (!listed.has(MANIFEST_FILE) && (await stat(join(root, MANIFEST_FILE)).catch(() => undefined)) !== undefined)
    throw fail(`${MANIFEST_FILE} is not in the bundle manifest`);
  for (const [path, sha] of listed) {
    if (tree.has(path)) continue;
    const got = await sha256File(join(root, path)).catch(() => undefined);
    if (got === undefined) throw fail(`${path} is missing`);
    if (got !== sha) throw fail(`${path} differs from the bundle manifest`);
  }
}
