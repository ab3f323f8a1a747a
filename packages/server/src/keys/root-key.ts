import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SightlineError } from '@sightline/core';

export type RootKeyErrorCode = 'ROOT_KEY_MISSING' | 'ROOT_KEY_INVALID' | 'ROOT_KEY_EXISTS' | 'SEALED_VALUE_INVALID';
export class RootKeyError extends SightlineError<RootKeyErrorCode> {}

export const ROOT_KEY_FILE = 'root.key';
/** For a passphrase-derived root key: the KDF parameters and a check value (no secret). */
export const ROOT_KDF_FILE = 'root.kdf.json';
export const ROOT_PASSPHRASE_ENV = 'SIGHTLINE_ROOT_PASSPHRASE';
const CHECK_CONTEXT = 'root-key-check';
const CHECK_TEXT = 'sightline root key check v1';
// scrypt at N=2^17, r=8: ~128 MiB and a fraction of a second, once per start.
const SCRYPT = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 } as const;
const MIN_PASSPHRASE = 16;

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

  /**
   * A root key derived from a passphrase with scrypt (nothing secret on
   * disk: only the salt and a sealed check value that tells a wrong
   * passphrase from corrupted data).
   */
  static createFromPassphrase(dataDir: string, passphrase: string): RootKey {
    if ([...passphrase].length < MIN_PASSPHRASE) {
      throw new RootKeyError('ROOT_KEY_INVALID', `The root passphrase must be at least ${MIN_PASSPHRASE} characters.`);
    }
    const file = join(dataDir, ROOT_KDF_FILE);
    if (existsSync(file) || existsSync(join(dataDir, ROOT_KEY_FILE))) throw new RootKeyError('ROOT_KEY_EXISTS', `${dataDir} already has a root key; refusing to replace it.`);
    const salt = randomBytes(16);
    const key = new RootKey(scryptSync(passphrase.normalize('NFKC'), salt, 32, SCRYPT));
    const params = { kdf: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('base64'), check: key.seal(Buffer.from(CHECK_TEXT), CHECK_CONTEXT) };
    writeFileSync(file, `${JSON.stringify(params, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  }

  static fromPassphrase(dataDir: string, passphrase: string): RootKey {
    const file = join(dataDir, ROOT_KDF_FILE);
    let params: { kdf?: unknown; N?: unknown; r?: unknown; p?: unknown; salt?: unknown; check?: unknown };
    try {
      params = JSON.parse(readFileSync(file, 'utf8')) as typeof params;
    } catch (err) {
      throw new RootKeyError('ROOT_KEY_MISSING', `${file} is missing or unreadable; it holds the root key's KDF parameters.`, { cause: err });
    }
    if (params.kdf !== 'scrypt' || typeof params.salt !== 'string' || typeof params.check !== 'string' || typeof params.N !== 'number' || typeof params.r !== 'number' || typeof params.p !== 'number') {
      throw new RootKeyError('ROOT_KEY_INVALID', `${file} is not a valid root key KDF file.`);
    }
    if (params.N > 2 ** 20 || params.r > 32 || params.p > 4) throw new RootKeyError('ROOT_KEY_INVALID', `${file} asks for KDF costs beyond the allowed caps.`);
    const key = new RootKey(
      scryptSync(passphrase.normalize('NFKC'), Buffer.from(params.salt, 'base64'), 32, { N: params.N, r: params.r, p: params.p, maxmem: SCRYPT.maxmem * 4 }),
    );
    try {
      key.open(params.check, CHECK_CONTEXT);
    } catch (err) {
      throw new RootKeyError('ROOT_KEY_INVALID', 'The root passphrase is wrong (the check value does not open).', { cause: err });
    }
    return key;
  }

  /** The root key of a data folder: the passphrase one when the folder has a KDF file, else the key file. */
  static open(dataDir: string, env: NodeJS.ProcessEnv = process.env): RootKey {
    if (existsSync(join(dataDir, ROOT_KDF_FILE))) {
      const passphrase = env[ROOT_PASSPHRASE_ENV];
      if (passphrase === undefined || passphrase === '') {
        throw new RootKeyError('ROOT_KEY_MISSING', `This data folder's root key comes from a passphrase: set ${ROOT_PASSPHRASE_ENV} before starting the server.`);
      }
      return RootKey.fromPassphrase(dataDir, passphrase);
    }
    return RootKey.load(dataDir);
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
