import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ROLES } from '../src/policy/roles.js';
import { engines, startTestServer, type TestServer } from './harness.js';
import { buildPackage, codeDescriptor, publisherKey, push, uploadBlob } from './packages-publish.js';

interface Err {
  error: { code: string; message: string; details?: { path?: string } };
}

test('built-in roles: Developer pushes and deploys, Operator deploys and pauses, only Admin sets the package policy, ReadOnly reads', () => {
  const has = (role: keyof typeof ROLES, action: string): boolean => (ROLES[role].actions as readonly string[]).includes(action);
  assert.ok(['package:Push', 'signing-key:Create', 'app:Deploy'].every((a) => has('Developer', a)));
  assert.ok(['app:Deploy', 'app:Pause', 'app:Resume', 'app:Remove', 'package:List'].every((a) => has('Operator', a)));
  assert.ok(!has('Developer', 'package:SetPolicy') && !has('Operator', 'package:SetPolicy') && has('Admin', 'package:SetPolicy'));
  assert.ok(['app:Get', 'app:List', 'package:Get', 'signing-key:List'].every((a) => has('ReadOnly', a) && has('Auditor', a)));
  assert.ok(!has('ReadOnly', 'app:Deploy') && !has('ReadOnly', 'package:Push'));
});

for (const engine of await engines()) {
  describe(`[${engine}] packages`, () => {
    let s: TestServer;
    let admin: string;
    const publisher = publisherKey();
    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
    });
    after(() => s.close());

    const versions = async (): Promise<number> => {
      const r = await s.call<{ packages: { versions: number }[] }>('GET', '/api/v1/projects/default/packages', undefined, admin);
      return r.body.packages.reduce((n, p) => n + p.versions, 0);
    };

    test('push a code and a model package; list, describe, show a version; the same version again is 409', async () => {
      const key = await s.call<{ key: { keyId: string } }>('POST', '/api/v1/projects/default/signing-keys', { name: 'release', publicKey: publisher.publicKey }, admin);
      assert.equal(key.status, 201, JSON.stringify(key.body));
      assert.equal(key.body.key.keyId, publisher.keyId);
      const code = await buildPackage(s, admin, publisher.key, 'code', 'privacy-blur', '0.1.0', { 'app.js': '"bundle v1"', 'descriptor.json': '"d"' });
      const pushed = await push(s, admin, code);
      assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
      assert.deepEqual([pushed.body.package.keyId, pushed.body.package.signer, pushed.body.package.bytes], [publisher.keyId, 'release', 14]);
      const model = await buildPackage(s, admin, publisher.key, 'model', 'blazeface', '1.0.0', { 'model.onnx': '"onnx bytes"' });
      assert.equal((await push(s, admin, model)).status, 201);
      const newer = await buildPackage(s, admin, publisher.key, 'code', 'privacy-blur', '0.10.0', { 'app.js': '"bundle v10"' }, codeDescriptor('privacy-blur', '0.10.0'));
      assert.equal((await push(s, admin, newer)).status, 201);

      const list = await s.call<{ packages: { name: string; kind: string; latestVersion: string; versions: number }[] }>('GET', '/api/v1/projects/default/packages', undefined, admin);
      assert.deepEqual(list.body.packages.find((p) => p.name === 'privacy-blur'), { name: 'privacy-blur', kind: 'code', latestVersion: '0.10.0', versions: 2 });
      const one = await s.call<{ versions: { version: string }[] }>('GET', '/api/v1/projects/default/packages/privacy-blur', undefined, admin);
      assert.deepEqual(one.body.versions.map((v) => v.version), ['0.1.0', '0.10.0']);
      const v = await s.call<{ package: { files: { path: string }[] } }>('GET', '/api/v1/projects/default/packages/blazeface/versions/1.0.0', undefined, admin);
      assert.deepEqual(v.body.package.files.map((f) => f.path), ['model.onnx']);
      assert.equal((await s.call<Err>('GET', '/api/v1/projects/default/packages/nope', undefined, admin)).body.error.code, 'PACKAGE_NOT_FOUND');

      const again = await push(s, admin, code);
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'PACKAGE_VERSION_EXISTS');
    });

    test('tampered manifest, forged signature, missing or different blob, bad descriptor: refused, nothing written', async () => {
      const before = await versions();
      const good = await buildPackage(s, admin, publisher.key, 'code', 'tamper', '1.0.0', { 'app.js': '"t"' });
      // One byte changed after signing.
      const bytes = Buffer.from(good.manifestB64, 'base64');
      bytes[bytes.indexOf('1.0.0')] = '2'.charCodeAt(0);
      const tampered = await push(s, admin, { ...good, manifestB64: bytes.toString('base64') });
      assert.equal(tampered.body.error.code, 'PACKAGE_SIGNATURE_INVALID');
      // A signature by another key, under this key's id and public key.
      const other = publisherKey();
      const forged = await buildPackage(s, admin, other.key, 'code', 'tamper', '1.0.0', { 'app.js': '"t"' });
      const mixed = await push(s, admin, { manifestB64: good.manifestB64, signature: { ...good.signature, signature: forged.signature.signature } });
      assert.equal(mixed.body.error.code, 'PACKAGE_SIGNATURE_INVALID');
      const wrongId = await push(s, admin, { manifestB64: good.manifestB64, signature: { ...good.signature, keyId: other.keyId } });
      assert.equal(wrongId.body.error.code, 'PACKAGE_SIGNATURE_INVALID');

      // A file whose blob was never uploaded, and one whose listed length differs from the stored blob.
      const missing = await buildPackage(s, admin, publisher.key, 'code', 'blobs', '1.0.0', { 'app.js': '"m"' });
      const manifest = JSON.parse(Buffer.from(missing.manifestB64, 'base64').toString()) as { files: { path: string; bytes: number; sha256: string }[] };
      const resign = async (files: typeof manifest.files) => {
        const b = Buffer.from(JSON.stringify({ ...manifest, files }));
        const { signPackageManifest } = await import('@sightline/core');
        return push(s, admin, { manifestB64: b.toString('base64'), signature: signPackageManifest(b, publisher.key) });
      };
      const f0 = manifest.files[0] as (typeof manifest.files)[number];
      const notUploaded = await resign([f0, { path: 'more.js', bytes: 3, sha256: 'a'.repeat(64) }]);
      assert.equal(notUploaded.body.error.code, 'PACKAGE_BLOB_MISSING');
      const wrongLength = await resign([{ ...f0, bytes: f0.bytes + 1 }]);
      assert.equal(wrongLength.status, 422);
      assert.equal(wrongLength.body.error.code, 'PACKAGE_BLOB_MISMATCH');

      const badDescriptor = await buildPackage(s, admin, publisher.key, 'code', 'bad-desc', '1.0.0', { 'app.js': '"b"' }, { ...codeDescriptor('bad-desc', '1.0.0'), memoryMib: 1 });
      const bd = await push(s, admin, badDescriptor);
      assert.equal(bd.body.error.code, 'PACKAGE_MANIFEST_INVALID');
      assert.equal(bd.body.error.details?.path, 'descriptor');
      const badModel = await buildPackage(s, admin, publisher.key, 'model', 'bad-model', '1.0.0', { 'weights.onnx': '"w"' });
      const bm = await push(s, admin, badModel);
      assert.equal(bm.body.error.details?.path, 'descriptor.file');
      assert.equal(await versions(), before, 'no refused version was written');
    });

    test('a project that requires listed signers refuses others; a listed key cannot be deleted', async () => {
      const set = await s.call<{ policy: { requireSignedBy: string[]; keyIds: string[] } }>('PUT', '/api/v1/projects/default/package-policy', { requireSignedBy: ['release'] }, admin);
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual(set.body.policy.keyIds, [publisher.keyId]);
      const stranger = publisherKey();
      const pkg = await buildPackage(s, admin, stranger.key, 'code', 'stranger', '1.0.0', { 'app.js': '"s"' });
      const refused = await push(s, admin, pkg);
      assert.equal(refused.body.error.code, 'PACKAGE_SIGNER_UNTRUSTED');
      // Registering the stranger's key does not make it trusted: the policy holds key ids.
      assert.equal((await s.call('POST', '/api/v1/projects/default/signing-keys', { name: 'stranger', publicKey: stranger.publicKey }, admin)).status, 201);
      assert.equal((await push(s, admin, pkg)).body.error.code, 'PACKAGE_SIGNER_UNTRUSTED');
      const del = await s.call<Err>('DELETE', '/api/v1/projects/default/signing-keys/release', undefined, admin);
      assert.equal(del.status, 409);
      assert.equal(del.body.error.code, 'SIGNING_KEY_IN_USE');
      const unknown = await s.call<Err>('PUT', '/api/v1/projects/default/package-policy', { requireSignedBy: ['nobody'] }, admin);
      assert.equal(unknown.body.error.code, 'SIGNING_KEY_NOT_FOUND');
      const badKey = await s.call<Err>('POST', '/api/v1/projects/default/signing-keys', { name: 'short', publicKey: 'AAAA' }, admin);
      assert.equal(badKey.body.error.code, 'PACKAGE_KEY_INVALID');
      // Back to any valid signature.
      assert.equal((await s.call('PUT', '/api/v1/projects/default/package-policy', { requireSignedBy: [] }, admin)).status, 200);
      assert.equal((await push(s, admin, pkg)).status, 201);
      assert.equal((await s.call('DELETE', '/api/v1/projects/default/signing-keys/stranger', undefined, admin)).status, 200);
      const keys = await s.call<{ keys: { name: string }[] }>('GET', '/api/v1/projects/default/signing-keys', undefined, admin);
      assert.deepEqual(keys.body.keys.map((k) => k.name), ['release']);
      // Content addressing: a blob uploaded again is the same blob.
      assert.equal((await uploadBlob(s, admin, '"s"')).sha256.length, 64);
    });
  });
}
