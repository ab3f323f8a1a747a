import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, createEncryptStream } from '@sightline/core';
import { ensurePrivateDir } from '../storage/data-dir.js';
import { AppError } from './errors.js';

const SHA = /^[0-9a-f]{64}$/;

/** A package file as the signed manifest declares it. */
export interface CachedFile {
  readonly sha256: string;
  readonly bytes: number;
}

const objectId = (sha256: string): Buffer => Buffer.from(sha256.slice(0, 32), 'hex');

function invalid(f: CachedFile, why: string): AppError {
  return new AppError('PACKAGE_FILE_INVALID', `Package file ${f.sha256.slice(0, 12)}… ${why}; refusing it.`, {
    details: { sha256: f.sha256 },
  });
}

/**
 * Package file blobs on the appliance, by SHA-256, each encrypted at rest
 * (seed point 16: app assets encrypted) with core's segmented stream
 * encryption under a key derived from the root key. A blob lands under its
 * name only after its length and hash matched the signed manifest, so a
 * redeploy of the same files downloads nothing.
 */
export class PackageCache {
  private tmpSeq = 0;

  constructor(
    private readonly dir: string,
    private readonly key: Uint8Array,
  ) {}

  private path(sha256: string): string {
    if (!SHA.test(sha256)) throw new AppError('PACKAGE_MANIFEST_INVALID', 'A package file is named by a 64-digit SHA-256.');
    return join(this.dir, `${sha256}.blob`);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.path(sha256))).isFile();
    } catch {
      return false;
    }
  }

  /**
   * Fills the cache with one file: `fetch` pushes the bytes in; each is
   * counted and hashed as it arrives, and more than the declared length or
   * another hash refuses the file (PACKAGE_FILE_INVALID) and keeps nothing.
   */
  async store(f: CachedFile, fetch: (push: (chunk: Buffer) => void) => Promise<void>, onBytes?: (n: number) => void): Promise<void> {
    const final = this.path(f.sha256);
    await ensurePrivateDir(this.dir);
    const tmp = join(this.dir, `.${f.sha256}.${process.pid}.${++this.tmpSeq}.tmp`);
    const enc = createEncryptStream({ dataKey: this.key, objectId: objectId(f.sha256), hash: false });
    const written = pipeline(enc, createWriteStream(tmp, { mode: 0o600 }));
    const hash = createHash('sha256');
    let seen = 0;
    try {
      await fetch((chunk) => {
        seen += chunk.length;
        // Issue 6: stop at the declared length; a longer answer is a different file.
        if (seen > f.bytes) throw invalid(f, `is longer than the ${f.bytes} bytes its manifest declares`);
        hash.update(chunk);
        enc.write(chunk);
        onBytes?.(chunk.length);
      });
      if (seen !== f.bytes) throw invalid(f, `is ${seen} bytes, not the ${f.bytes} its manifest declares`);
      if (hash.digest('hex') !== f.sha256) throw invalid(f, 'does not match the SHA-256 in its signed manifest');
      enc.end();
      await written;
      await rename(tmp, final);
    } catch (err) {
      enc.destroy();
      await written.catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Decrypts a cached file into `sink` (a file path, or nothing to check only),
   * checking its length and SHA-256 on the way (fail closed: a mismatch throws
   * PACKAGE_FILE_INVALID and a partial output file is removed).
   */
  async open(f: CachedFile, dest?: string): Promise<void> {
    const source = this.path(f.sha256);
    const hash = createHash('sha256');
    let seen = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb): void {
        seen += chunk.length;
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    const dec = createDecryptStream({ dataKey: this.key, objectId: objectId(f.sha256), hash: false });
    const out = dest === undefined ? new Writable({ write: (_c, _e, cb) => cb() }) : createWriteStream(dest, { mode: 0o644, flags: 'wx' });
    try {
      await pipeline(createReadStream(source), dec, tap, out);
    } catch (err) {
      if (dest !== undefined) await rm(dest, { force: true });
      throw new AppError('PACKAGE_FILE_INVALID', `The cached package file ${f.sha256.slice(0, 12)}… does not open: ${reason(err)}.`, {
        cause: err,
        details: { sha256: f.sha256 },
      });
    }
    if (seen !== f.bytes || hash.digest('hex') !== f.sha256) {
      if (dest !== undefined) await rm(dest, { force: true });
      await rm(source, { force: true }); // changed on disk: fetch it again next time
      throw invalid(f, 'no longer matches its manifest in the cache');
    }
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }
}

function reason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'unreadable';
}
