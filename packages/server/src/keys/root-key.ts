import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SightlineError } from '@sightline/core';

export type RootKeyErrorCode = 'ROOT_KEY_MISSING' | 'ROOT_KEY_INVALID' | 'ROOT_KEY_EXISTS' | 'SEALED_VALUE_INVALID';
export class RootKeyError extends SightlineError<RootKeyErrorCode> {}

export const ROOT_KEY_FILE = 'root.key';

/**
 * The control plane's root key: 32 random bytes in `DIR/root.key` (0600). It
 * is the one key kept in a file; every other secret the server stores (CA and
 * TLS keys, TOTP seeds, master keys) is sealed under it (seed point 12/17).
 */
export class RootKey {
  private constructor(private readonly key: Buffer) {}

  static create(dataDir: string): RootKey {
    const file = join(dataDir, ROOT_KEY_FILE);
    if (existsSync(file)) throw new RootKeyError('ROOT_KEY_EXISTS', `${file} already exists; refusing to overwrite a root key.`);
    const key = randomBytes(32);
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return new RootKey(key);
  }

  static load(dataDir: string): RootKey {
    const file = join(dataDir, ROOT_KEY_FILE);
    if (!existsSync(file)) {
      throw new RootKeyError('ROOT_KEY_MISSING', `The root key ${file} is missing; the server cannot read its sealed keys. Restore it from backup or run "sightline server init" on a new data folder.`);
    }
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new RootKeyError('ROOT_KEY_INVALID', `${file} is readable by other users (mode ${mode.toString(8)}); run "chmod 600 ${file}".`);
    }
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new RootKeyError('ROOT_KEY_INVALID', `${file} does not hold a 32-byte key.`);
    return new RootKey(key);
  }

  /** AES-256-GCM; `context` is bound as associated data so a sealed value cannot be moved to another purpose. */
  seal(plaintext: Uint8Array, context: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(`sightline-root-seal-v1\0${context}`));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `v1.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
  }

  open(sealed: string, context: string): Buffer {
    if (!sealed.startsWith('v1.')) throw new RootKeyError('SEALED_VALUE_INVALID', `A sealed value for ${context} has an unknown format.`);
    const raw = Buffer.from(sealed.slice(3), 'base64');
    if (raw.length < 28) throw new RootKeyError('SEALED_VALUE_INVALID', `A sealed value for ${context} is truncated.`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(`sightline-root-seal-v1\0${context}`));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    try {
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
    } catch (err) {
      // Fail closed: a wrong root key or a changed byte both land here.
      throw new RootKeyError('SEALED_VALUE_INVALID', `A sealed value for ${context} did not authenticate: wrong root key or corrupted data.`, { cause: err });
    }
  }
}
