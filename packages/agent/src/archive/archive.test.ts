import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encrypter, armor, generateIdentity, identityToRecipient } from 'age-encryption';
import { AgentError } from '../errors.js';
import { sampleArchive, sealArchive } from '../../test/helpers/archive.js';
import { MAX_ARCHIVE_BYTES, decryptArchive, readArchiveFile } from './archive.js';

const PASS = 'correct horse battery staple';

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof AgentError && err.code === code);
}

test('the right passphrase opens the archive and the contents pass the schema', async () => {
  const archive = sampleArchive();
  const opened = await decryptArchive(await sealArchive(archive, PASS), PASS);
  assert.deepEqual(opened, archive);
});

test('a higher work factor (2^14) opens with the native scrypt too', async () => {
  // age's default is 2^18, but encrypting at 2^18 with the JS scrypt costs seconds; 2^14 takes the same path.
  const opened = await decryptArchive(await sealArchive(sampleArchive(), PASS, 14), PASS);
  assert.equal(opened.device, 'cam-01');
});

test('ASCII-armored archives open as well', async () => {
  const bytes = await sealArchive(sampleArchive(), PASS);
  const opened = await decryptArchive(Buffer.from(armor.encode(bytes)), PASS);
  assert.equal(opened.project, 'shop-1');
});

test('a wrong passphrase is ARCHIVE_PASSPHRASE_WRONG', async () => {
  await rejectsWith(decryptArchive(await sealArchive(sampleArchive(), PASS), 'wrong passphrase'), 'ARCHIVE_PASSPHRASE_WRONG');
});

test('a damaged archive is ARCHIVE_CORRUPT: flipped payload byte, flipped header MAC, truncation, not age at all', async () => {
  const good = Buffer.from(await sealArchive(sampleArchive(), PASS));
  const payload = Buffer.from(good);
  payload[payload.length - 5] = (payload[payload.length - 5] ?? 0) ^ 0x01;
  await rejectsWith(decryptArchive(payload, PASS), 'ARCHIVE_CORRUPT');

  const text = good.toString('latin1');
  const macAt = text.indexOf('--- ') + 4;
  const header = Buffer.from(good);
  header[macAt] = header[macAt] === 0x41 ? 0x42 : 0x41;
  await rejectsWith(decryptArchive(header, PASS), 'ARCHIVE_CORRUPT');

  await rejectsWith(decryptArchive(good.subarray(0, good.length - 20), PASS), 'ARCHIVE_CORRUPT');
  await rejectsWith(decryptArchive(Buffer.from('{"v":1}'), PASS), 'ARCHIVE_CORRUPT');
  await rejectsWith(
    decryptArchive(Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\n!!!\n-----END AGE ENCRYPTED FILE-----\n'), PASS),
    'ARCHIVE_CORRUPT',
  );
});

test('an archive for a key recipient (not a passphrase) is ARCHIVE_CORRUPT, not a wrong passphrase', async () => {
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(await generateIdentity()));
  await rejectsWith(decryptArchive(await e.encrypt(JSON.stringify(sampleArchive())), PASS), 'ARCHIVE_CORRUPT');
});

test('a scrypt work factor above 2^20 is refused before any work (ARCHIVE_CORRUPT)', async () => {
  const good = Buffer.from(await sealArchive(sampleArchive(), PASS)).toString('latin1');
  const tampered = good.replace(/(-> scrypt \S+) 10\n/, '$1 21\n');
  assert.notEqual(tampered, good);
  await rejectsWith(decryptArchive(Buffer.from(tampered, 'latin1'), PASS), 'ARCHIVE_CORRUPT');
});

test('contents that are not the provisioning format are ARCHIVE_INVALID, naming the field', async () => {
  await rejectsWith(decryptArchive(await sealArchive('not json', PASS), PASS), 'ARCHIVE_INVALID');
  const missing: Record<string, unknown> = { ...sampleArchive() };
  delete missing.caPem;
  await assert.rejects(
    decryptArchive(await sealArchive(missing, PASS), PASS),
    (err: unknown) => err instanceof AgentError && err.code === 'ARCHIVE_INVALID' && err.details?.path === 'caPem',
  );
  await rejectsWith(decryptArchive(await sealArchive({ ...sampleArchive(), extra: 1 }, PASS), PASS), 'ARCHIVE_INVALID');
  await rejectsWith(decryptArchive(await sealArchive({ ...sampleArchive(), v: 2 }, PASS), PASS), 'ARCHIVE_INVALID');
  const plainHttp = sampleArchive({ controlPlane: { url: 'http://127.0.0.1:8080', serverCertSha256: 'a'.repeat(64) } });
  await rejectsWith(decryptArchive(await sealArchive(plainHttp, PASS), PASS), 'ARCHIVE_INVALID');
});

test('reading the archive file: missing and oversized files are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sl-archive-'));
  await rejectsWith(readArchiveFile(join(dir, 'nope.age')), 'ARCHIVE_NOT_FOUND');
  writeFileSync(join(dir, 'big.age'), Buffer.alloc(MAX_ARCHIVE_BYTES + 1));
  await rejectsWith(readArchiveFile(join(dir, 'big.age')), 'ARCHIVE_TOO_LARGE');
});

test('an empty passphrase is refused before any decryption', async () => {
  await rejectsWith(decryptArchive(await sealArchive(sampleArchive(), PASS), ''), 'PASSPHRASE_MISSING');
});
