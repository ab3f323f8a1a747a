import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PackageSigningError } from './errors.js';
import { generatePackageSigningKey, loadPackageSigningKey, packageKeyId, signPackageManifest, verifyPackageManifest } from './signing.js';

const manifest = Buffer.from('{"v":1,"kind":"code","name":"privacy-blur","version":"0.1.0"}');
const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PackageSigningError);
    return e.code;
  }
  return 'no error';
};

describe('package signing', () => {
  const k = generatePackageSigningKey('correct horse battery staple');
  const key = loadPackageSigningKey(k.privateKeyPem, 'correct horse battery staple');
  const sig = signPackageManifest(manifest, key);

  it('signs and verifies, naming the signer', () => {
    assert.equal(sig.keyId, k.keyId);
    assert.equal(verifyPackageManifest(manifest, sig), k.keyId);
    assert.equal(verifyPackageManifest(manifest, sig, [k.keyId]), k.keyId);
    assert.match(k.privateKeyPem, /BEGIN ENCRYPTED PRIVATE KEY/);
  });

  it('refuses a changed byte, a forged signature, a swapped key and an untrusted signer', () => {
    const changed = Buffer.from(manifest);
    changed.writeUInt8(changed.readUInt8(changed.length - 3) ^ 1, changed.length - 3);
    assert.equal(code(() => verifyPackageManifest(changed, sig)), 'PACKAGE_SIGNATURE_INVALID');
    const flipped = Buffer.from(sig.signature, 'base64');
    flipped.writeUInt8(flipped.readUInt8(0) ^ 1, 0);
    assert.equal(code(() => verifyPackageManifest(manifest, { ...sig, signature: flipped.toString('base64') })), 'PACKAGE_SIGNATURE_INVALID');
    const other = generatePackageSigningKey();
    assert.equal(code(() => verifyPackageManifest(manifest, { ...sig, publicKey: other.publicKeyRaw.toString('base64') })), 'PACKAGE_SIGNATURE_INVALID');
    assert.equal(
      code(() => verifyPackageManifest(manifest, { ...sig, publicKey: other.publicKeyRaw.toString('base64'), keyId: other.keyId })),
      'PACKAGE_SIGNATURE_INVALID',
    );
    assert.equal(code(() => verifyPackageManifest(manifest, sig, [other.keyId])), 'PACKAGE_SIGNER_UNTRUSTED');
  });

  it('refuses a wrong passphrase and a short key', () => {
    assert.equal(code(() => loadPackageSigningKey(k.privateKeyPem, 'wrong')), 'PACKAGE_KEY_INVALID');
    assert.equal(code(() => packageKeyId(Buffer.alloc(31))), 'PACKAGE_KEY_INVALID');
  });
});
