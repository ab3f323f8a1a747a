import { readFile, stat, unlink } from 'node:fs/promises';
import { Decrypter, armor } from 'age-encryption';
import { deviceApi } from '@sightline/protocol';
import { AgentError } from '../errors.js';
import { NativeScryptIdentity } from './scrypt-identity.js';

export type ProvisioningArchive = deviceApi.ProvisioningArchive;

/** A configuration archive holds two certificates, a key and settings: a few KiB. Anything far larger is not one. */
export const MAX_ARCHIVE_BYTES = 256 * 1024;
const AGE_MAGIC = 'age-encryption.org/v1\n';
const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';

/** Reads the archive file with a size cap (STYLE: hard caps on everything read from outside). */
export async function readArchiveFile(path: string): Promise<Uint8Array> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new AgentError(
      'ARCHIVE_NOT_FOUND',
      `The configuration archive ${path} cannot be read; check the path (e.g. the USB drive is mounted).`,
      { cause: err },
    );
  }
  if (size > MAX_ARCHIVE_BYTES) {
    throw new AgentError(
      'ARCHIVE_TOO_LARGE',
      `${path} is ${size} bytes; a configuration archive is at most ${MAX_ARCHIVE_BYTES}. Is it the right file?`,
    );
  }
  const bytes = await readFile(path);
  if (bytes.length > MAX_ARCHIVE_BYTES) throw new AgentError('ARCHIVE_TOO_LARGE', `${path} grew while it was read.`);
  return bytes;
}

function corrupt(why: string, cause?: unknown): AgentError {
  return new AgentError(
    'ARCHIVE_CORRUPT',
    `The configuration archive is damaged or not an age file (${why}); copy it again from the machine that provisioned the device.`,
    { cause },
  );
}

/**
 * Decrypts and validates a configuration archive (issue 5: an age file with
 * a scrypt passphrase recipient, holding the JSON `provisioningArchive`).
 * Throws ARCHIVE_PASSPHRASE_WRONG, ARCHIVE_CORRUPT or ARCHIVE_INVALID; never
 * returns anything that did not pass the schema.
 */
export async function decryptArchive(file: Uint8Array, passphrase: string): Promise<ProvisioningArchive> {
  if (passphrase.length === 0) throw new AgentError('PASSPHRASE_MISSING', 'The archive passphrase is empty.');
  let bytes = file;
  const head = Buffer.from(file.subarray(0, 64)).toString('latin1');
  if (head.trimStart().startsWith(ARMOR_BEGIN)) {
    try {
      bytes = armor.decode(Buffer.from(file).toString('latin1'));
    } catch (err) {
      throw corrupt('bad ASCII armor', err);
    }
  }
  if (Buffer.from(bytes.subarray(0, AGE_MAGIC.length)).toString('latin1') !== AGE_MAGIC) throw corrupt('no age header');

  const identity = new NativeScryptIdentity(passphrase);
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  let text: string;
  try {
    text = await decrypter.decrypt(bytes, 'text');
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (message.startsWith('no identity matched')) {
      if (identity.sawScryptStanza) {
        throw new AgentError(
          'ARCHIVE_PASSPHRASE_WRONG',
          'The passphrase does not open this archive; use the one printed when the device was provisioned.',
          { cause: err },
        );
      }
      throw corrupt('it is not encrypted with a passphrase', err);
    }
    throw corrupt(message.slice(0, 120), err);
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AgentError('ARCHIVE_INVALID', 'The archive decrypts but does not hold JSON; it was not made by sightline device provision.', {
      cause: err,
    });
  }
  const parsed = deviceApi.provisioningArchive.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? '' : ` at "${issue.path.join('.')}": ${issue.message}`;
    throw new AgentError(
      'ARCHIVE_INVALID',
      `The archive's contents do not match the provisioning format${where}. Is the agent older than the control plane?`,
      {
        details: { path: issue?.path.join('.') ?? '' },
      },
    );
  }
  const archive = parsed.data;
  // Seed point 9: appliance ↔ cloud over TLS only.
  if (new URL(archive.controlPlane.url).protocol !== 'https:') {
    throw new AgentError('ARCHIVE_INVALID', 'The archive names a control plane URL that is not https://.', {
      details: { path: 'controlPlane.url' },
    });
  }
  return archive;
}

/**
 * Deletes the archive after registration (seed point 11: delete it after
 * use). The archive is encrypted, so unlinking is enough; on a read-only or
 * foreign medium it may be impossible, and the caller says so.
 */
export async function deleteArchiveFile(path: string): Promise<{ deleted: true } | { deleted: false; reason: string }> {
  try {
    await unlink(path);
    return { deleted: true };
  } catch (err) {
    return { deleted: false, reason: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}
