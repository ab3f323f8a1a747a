import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { AgentError } from '../errors.js';
import { grepDir } from '../../test/helpers/grep.js';
import { layout } from './data-dir.js';
import { RootKeyManager } from './root-key.js';
import { EncryptedStore } from './store.js';
import { Tpm } from './tpm.js';

const noTpm = new Tpm(undefined, { PATH: '/nonexistent' });
const tmp = (): string => mkdtempSync(join(tmpdir(), 'sl-store-'));
const isCode = (code: string) => (err: unknown) => err instanceof AgentError && err.code === code;

test('records round-trip sealed; the bytes on disk hold none of the plaintext', async () => {
  const dir = tmp();
  const store = new EncryptedStore(join(dir, 'store'), randomBytes(32));
  const secret = { keyPkcs8: randomBytes(64).toString('base64'), note: 'known plaintext: the quick brown fox' };
  await store.writeJson('identity', secret);
  assert.deepEqual(await store.readJson('identity', z.object({ keyPkcs8: z.string(), note: z.string() })), secret);
  assert.equal(await store.read('absent'), undefined);
  assert.deepEqual(grepDir(dir, [secret.keyPkcs8, 'quick brown fox', 'keyPkcs8']), []);
  assert.equal(statSync(join(dir, 'store', 'identity.sealed')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'store')).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(join(dir, 'store')), ['identity.sealed'], 'no temp files left behind');
});

test('a sealed record opens only under its own name and root key, and any changed byte is STORE_CORRUPT', async () => {
  const dir = tmp();
  const key = randomBytes(32);
  const store = new EncryptedStore(dir, key);
  await store.writeJson('state', { a: 1 });
  await store.writeJson('status', { b: 2 });
  await assert.rejects(new EncryptedStore(dir, randomBytes(32)).read('state'), isCode('STORE_CORRUPT'));
  // AAD = the logical name: a record moved over another does not open.
  renameSync(join(dir, 'status.sealed'), join(dir, 'state.sealed'));
  await assert.rejects(store.read('state'), isCode('STORE_CORRUPT'));
  await store.writeJson('state', { a: 1 });
  const bytes = readFileSync(join(dir, 'state.sealed'));
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
  writeFileSync(join(dir, 'state.sealed'), bytes);
  await assert.rejects(store.read('state'), isCode('STORE_CORRUPT'));
  await assert.rejects(store.write('../escape', Buffer.from('x')), isCode('USAGE'));
});

test('key-file root key: 0600, a loud warning elsewhere; refused when others can read it; crypto-erased on destroy', async () => {
  const dir = tmp();
  const m = new RootKeyManager(dir, noTpm);
  const created = await m.create('auto', new Date());
  assert.equal(created.meta.protection, 'key-file', 'no TPM: falls back to the key file');
  const p = layout(dir);
  assert.equal(statSync(p.rootKeyFile).mode & 0o777, 0o600);
  assert.deepEqual((await m.load()).key, created.key);
  assert.deepEqual(grepDir(dir, [created.key.toString('base64'), created.key.toString('hex')]), []);
  assert.equal(readFileSync(p.rootKeyMeta).includes(created.key), false);
  await assert.rejects(m.create('key-file', new Date()), isCode('ROOT_KEY_INVALID'));
  await assert.rejects(new RootKeyManager(tmp(), noTpm).create('tpm', new Date()), isCode('TPM_UNAVAILABLE'));

  chmodSync(p.rootKeyFile, 0o644);
  await assert.rejects(m.load(), isCode('ROOT_KEY_INVALID'));
  chmodSync(p.rootKeyFile, 0o600);

  const destroyed = await m.destroy();
  assert.equal(destroyed.destroyed, true);
  assert.equal(existsSync(p.rootKeyFile), false);
  assert.equal(existsSync(p.rootKeyMeta), false);
  await assert.rejects(m.load(), isCode('ROOT_KEY_MISSING'));
});
