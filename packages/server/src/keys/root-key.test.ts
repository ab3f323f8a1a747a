import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootKey, RootKeyError } from './root-key.js';

const dir = (): string => mkdtempSync(join(tmpdir(), 'sightline-root-'));
const code = (c: string) => (e: unknown) => e instanceof RootKeyError && e.code === c;

test('key file: created 0600, seals and opens, bound to the context', () => {
  const d = dir();
  const k = RootKey.create(d);
  const sealed = k.seal(Buffer.from('ca private key'), 'ca-key');
  assert.equal(RootKey.load(d).open(sealed, 'ca-key').toString(), 'ca private key');
  assert.throws(() => k.open(sealed, 'server-tls-key'), code('SEALED_VALUE_INVALID'));
  assert.throws(() => RootKey.create(d), code('ROOT_KEY_EXISTS'));
  chmodSync(join(d, 'root.key'), 0o644);
  assert.throws(() => RootKey.load(d), code('ROOT_KEY_INVALID'));
  assert.throws(() => RootKey.load(dir()), code('ROOT_KEY_MISSING'));
});

test('passphrase: scrypt-derived, nothing secret on disk, a wrong passphrase is named as such', () => {
  const d = dir();
  const passphrase = 'orchard tunnel violet anchor';
  const k = RootKey.createFromPassphrase(d, passphrase);
  const sealed = k.seal(Buffer.from('master key'), 'kms');
  assert.deepEqual(readdirSync(d), ['root.kdf.json']);
  assert.ok(!readFileSync(join(d, 'root.kdf.json'), 'utf8').includes(passphrase));
  assert.equal(RootKey.open(d, { SIGHTLINE_ROOT_PASSPHRASE: passphrase }).open(sealed, 'kms').toString(), 'master key');
  assert.throws(() => RootKey.open(d, { SIGHTLINE_ROOT_PASSPHRASE: 'orchard tunnel violet anchors' }), (e: unknown) => e instanceof RootKeyError && /passphrase is wrong/.test(e.message));
  assert.throws(() => RootKey.open(d, {}), (e: unknown) => e instanceof RootKeyError && e.code === 'ROOT_KEY_MISSING' && /SIGHTLINE_ROOT_PASSPHRASE/.test(e.message));
  assert.throws(() => RootKey.createFromPassphrase(dir(), 'short'), code('ROOT_KEY_INVALID'));
  const params = JSON.parse(readFileSync(join(d, 'root.kdf.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(d, 'root.kdf.json'), JSON.stringify({ ...params, N: 2 ** 30 }));
  assert.throws(() => RootKey.open(d, { SIGHTLINE_ROOT_PASSPHRASE: passphrase }), code('ROOT_KEY_INVALID'));
});
