import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertNotExpired,
  buildRoot,
  compareReleaseVersions,
  decryptReleaseKey,
  encryptReleaseKey,
  generateReleaseKey,
  nextRoot,
  nextTargets,
  packBundle,
  readBundle,
  releaseSigner,
  releaseTarget,
  sightlineTargetCustom,
  signMetadata,
  verifyRole,
  verifyRootChain,
} from './index.js';
import { ReleaseError } from './errors.js';

const code = (c: string) => (err: unknown) => err instanceof ReleaseError && err.code === c;

test('a bundle is a ustar archive tar lists, and reads back with every file checked', () => {
  const long = `${'deep/'.repeat(30)}file.js`;
  const bytes = packBundle({ version: '1.2.0', files: [{ path: 'dist/main.js', data: Buffer.from('main') }, { path: long, data: Buffer.alloc(1000, 7), mode: 0o755 }] });
  const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
  writeFileSync(join(dir, 'b.tar'), bytes);
  const listed = execFileSync('tar', ['-tf', join(dir, 'b.tar')], { encoding: 'utf8' }).trim().split('\n');
  // manifest.json first, then the files sorted by path ("deep/…" before "dist/…").
  assert.deepEqual(listed, ['manifest.json', long, 'dist/main.js']);
  const read = readBundle(bytes);
  assert.equal(read.manifest.version, '1.2.0');
  assert.equal(read.files.get('dist/main.js')?.toString(), 'main');
  assert.equal(read.files.get(long)?.length, 1000);
});

test('a bundle with a changed file, a truncated end or an unsafe path is refused', () => {
  const bytes = packBundle({ version: '1.0.0', files: [{ path: 'a.js', data: Buffer.from('original') }] });
  const tampered = Buffer.from(bytes);
  const at = tampered.indexOf('original');
  tampered.write('0riginal', at);
  assert.throws(() => readBundle(tampered), code('BUNDLE_HASH_MISMATCH'));
  assert.throws(() => readBundle(bytes.subarray(0, bytes.length - 1024)), code('BUNDLE_INVALID'));
  assert.throws(() => packBundle({ version: '1.0.0', files: [{ path: '../etc/passwd', data: Buffer.from('x') }] }), code('BUNDLE_INVALID'));
  assert.throws(() => packBundle({ version: 'one', files: [] }), code('BUNDLE_INVALID'));
});

test('release key files: encrypted PKCS#8 that opens only with its passphrase', () => {
  const key = generateReleaseKey();
  const pem = encryptReleaseKey(key, 'correct horse battery');
  assert.match(pem, /BEGIN ENCRYPTED PRIVATE KEY/);
  assert.equal(decryptReleaseKey(pem, 'correct horse battery').key.keyID, releaseSigner(key).key.keyID);
  assert.throws(() => decryptReleaseKey(pem, 'wrong horse battery'), code('RELEASE_KEY_INVALID'));
  assert.throws(() => encryptReleaseKey(key, 'short'), code('RELEASE_KEY_INVALID'));
});

test('threshold, unknown signer, expiry and root chain checks', () => {
  const [r1, r2, t1, t2, sn, ts] = Array.from({ length: 6 }, () => releaseSigner(generateReleaseKey()));
  if (r1 === undefined || r2 === undefined || t1 === undefined || t2 === undefined || sn === undefined || ts === undefined) throw new Error('keys');
  const root = signMetadata(buildRoot({ root: [r1.key], rootThreshold: 1, targets: [t1.key, t2.key], targetsThreshold: 2, snapshot: [sn.key], timestamp: [ts.key] }, 1, new Date()), [r1]);
  verifyRole(root.signed, 'root', root);
  const bundle = packBundle({ version: '1.0.0', files: [] });
  const custom = { version: '1.0.0', securityVersion: 1, required: false };
  const one = signMetadata(nextTargets(undefined, [releaseTarget('sightline-agent-1.0.0.tar', bundle, custom)], new Date()), [t1]);
  assert.throws(() => verifyRole(root.signed, 'targets', one), code('METADATA_THRESHOLD'));
  const both = signMetadata(nextTargets(undefined, [releaseTarget('sightline-agent-1.0.0.tar', bundle, custom)], new Date()), [t1, t2]);
  verifyRole(root.signed, 'targets', both);
  signMetadata(both, [sn]);
  assert.throws(() => verifyRole(root.signed, 'targets', both), code('METADATA_UNKNOWN_SIGNER'));
  const old = nextTargets(undefined, [], new Date(Date.now() - 100 * 86_400_000));
  assert.throws(() => assertNotExpired(old, new Date(), 'targets'), code('METADATA_EXPIRED'));
  const next = signMetadata(nextRoot(root.signed, { root: [r2.key] }, new Date()), [r1, r2]);
  verifyRootChain(root.signed, next);
  const onlyNew = signMetadata(nextRoot(root.signed, { root: [r2.key] }, new Date()), [r2]);
  assert.throws(() => verifyRootChain(root.signed, onlyNew), code('METADATA_THRESHOLD'));
  assert.throws(() => verifyRootChain(next.signed, next), code('METADATA_VERSION'));
  assert.throws(() => sightlineTargetCustom({ sightline: { version: '1.0.0', securityVersion: -1, required: true } }), code('TARGET_CUSTOM_INVALID'));
});

test('release versions order as semantic versions', () => {
  assert.deepEqual(['1.10.0', '1.2.0', '1.2.0-rc.1', '0.9.9'].sort(compareReleaseVersions), ['0.9.9', '1.2.0-rc.1', '1.2.0', '1.10.0']);
});
