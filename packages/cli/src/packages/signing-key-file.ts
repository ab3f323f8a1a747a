import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadPackageSigningKey, PackageSigningError } from '@sightline/core';
import { appsApi } from '@sightline/protocol';
import { CliError, EXIT } from '../errors.js';
import { readTextFile } from '../files.js';
import { isInteractive, promptHidden } from '../prompt/prompt.js';

/**
 * The publisher's private signing key on this machine: an Ed25519 PKCS#8 PEM
 * encrypted with a passphrase, written 0600 (in a 0700 folder under the CLI's
 * config folder unless `--out` says elsewhere). The passphrase comes from
 * `--passphrase-file`, SIGHTLINE_SIGNING_KEY_PASSPHRASE or a hidden prompt,
 * never from the command line.
 */

export const PASSPHRASE_ENV = 'SIGHTLINE_SIGNING_KEY_PASSPHRASE';
/** PEM encryption derives its key with PBKDF2 at a modest cost; a short passphrase would fall to guessing. */
export const MIN_PASSPHRASE_LENGTH = 12;
const MAX_KEY_FILE_BYTES = 16 * 1024;

export interface PassphraseOptions {
  passphraseFile?: string;
}

/** The passphrase of a key: from the file, the environment or a prompt; `confirm` asks twice (a new key). */
export async function readPassphrase(opts: PassphraseOptions, env: NodeJS.ProcessEnv, what: string, confirm = false): Promise<string> {
  let passphrase: string | undefined;
  if (opts.passphraseFile !== undefined) {
    passphrase = readTextFile(opts.passphraseFile, 'the passphrase', 4096).split(/\r?\n/)[0] ?? '';
  } else if (env[PASSPHRASE_ENV] !== undefined && env[PASSPHRASE_ENV] !== '') {
    passphrase = env[PASSPHRASE_ENV];
  } else if (isInteractive()) {
    passphrase = await promptHidden(`Passphrase for ${what}: `);
    if (confirm && (await promptHidden('Type it again: ')) !== passphrase)
      throw new CliError('PASSPHRASE_MISMATCH', 'The two passphrases differ; nothing was created.', EXIT.USAGE);
  } else {
    throw new CliError(
      'PASSPHRASE_REQUIRED',
      `The passphrase for ${what} is needed and there is no terminal to ask on: give --passphrase-file FILE or set ${PASSPHRASE_ENV}.`,
      EXIT.USAGE,
    );
  }
  if (confirm && passphrase.length < MIN_PASSPHRASE_LENGTH)
    throw new CliError('PASSPHRASE_TOO_SHORT', `Choose a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters.`, EXIT.INVALID);
  if (passphrase === '') throw new CliError('PASSPHRASE_REQUIRED', `The passphrase for ${what} is empty.`, EXIT.INVALID);
  return passphrase;
}

/** Where `signing-key create` keeps a key when no `--out` is given. */
export function defaultKeyFile(configDir: string, project: string, name: string): string {
  return join(configDir, 'signing-keys', project, `${name}.pem`);
}

/** Writes a new private key file: never over an existing file, 0600; a folder it creates is 0700. */
export function writePrivateKeyFile(file: string, pem: string): void {
  const folder = dirname(file);
  if (!existsSync(folder)) mkdirSync(folder, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST')
      throw new CliError('FILE_EXISTS', `${file} already exists; choose another --out or remove it.`, EXIT.CONFLICT);
    throw new CliError('FILE_UNWRITABLE', `Cannot write ${file}: ${(err as { code?: string }).code ?? 'error'}.`, EXIT.INVALID, {
      cause: err,
    });
  }
  // The umask may have taken bits away; set exactly 0600.
  chmodSync(file, 0o600);
}

export function removeKeyFile(file: string): void {
  rmSync(file, { force: true });
}

/** `--key FILE`, or a key name created with `signing-key create` (looked up in the config folder). */
export function resolveKeyFile(arg: string, configDir: string, project: string): string {
  if (existsSync(arg)) return arg;
  if (appsApi.packageName.safeParse(arg).success) {
    const stored = defaultKeyFile(configDir, project, arg);
    if (existsSync(stored)) return stored;
  }
  throw new CliError(
    'FILE_UNREADABLE',
    `No signing key file ${arg}${appsApi.packageName.safeParse(arg).success ? ` and no key named ${arg} in ${dirname(defaultKeyFile(configDir, project, arg))}` : ''}.`,
    EXIT.INVALID,
  );
}

/** Reads and decrypts a private key file; a wrong passphrase or another kind of file is PACKAGE_KEY_INVALID (exit 7). */
export function loadKeyFile(file: string, passphrase: string): KeyObject {
  const mode = statSync(file).mode;
  if ((mode & 0o077) !== 0) {
    throw new CliError(
      'KEY_FILE_INSECURE',
      `${file} is readable by others (mode ${(mode & 0o777).toString(8)}); run "chmod 600 ${file}".`,
      EXIT.INVALID,
    );
  }
  const pem = readTextFile(file, 'the signing key', MAX_KEY_FILE_BYTES);
  try {
    return loadPackageSigningKey(pem, passphrase);
  } catch (err) {
    throw signingError(err);
  }
}

/** A signing or verifying failure as a CLI error: a bad key is exit 7, a failed check exit 9. */
export function signingError(err: unknown): unknown {
  if (!(err instanceof PackageSigningError)) return err;
  return new CliError(err.code, err.message, err.code === 'PACKAGE_KEY_INVALID' ? EXIT.INVALID : EXIT.VERIFY_FAILED, {
    cause: err,
    ...(err.details === undefined ? {} : { details: { ...err.details } }),
  });
}
