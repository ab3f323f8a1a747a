import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestServer } from '../../server/test/harness.js';
import { json, ROOT, runCliMany, startCliServer, stopCliServer, type Result } from './cli-process.js';

/** `sightline signing-key` and `sightline package` against the server harness. */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-pkg-'));
const MODEL_DIR = join(ROOT, 'examples/privacy-blur/model');
const APP_DIR = join(ROOT, 'examples/privacy-blur');
const ONNX = 'face_detection_back_256x256_barracuda.onnx';
const PASSPHRASE = 'Plover-8812-tundra-bracken';
const OTHER_PASSPHRASE = 'Knot-5520-estuary-shingle';

let s: TestServer;
let env: Record<string, string>;
const cliMany = async (runs: { args: string[]; env?: Record<string, string> }[]): Promise<Result[]> =>
  runCliMany(runs.map((r) => ({ args: r.args, env: { ...env, ...r.env } })));
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const passFile = join(tmp, 'pass.txt');

before(async () => {
  ({ s, env } = await startCliServer(tmp));
  writeFileSync(passFile, `${PASSPHRASE}\n`);
});
after(() => stopCliServer(s, tmp));

/** A copy of the model folder whose descriptor says `version` (a new version of the same model file). */
function modelCopy(version: string): string {
  const dir = join(tmp, `model-src-${version}`);
  cpSync(MODEL_DIR, dir, { recursive: true });
  const d = JSON.parse(readFileSync(join(dir, 'descriptor.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'descriptor.json'), JSON.stringify({ ...d, version }, null, 2));
  return dir;
}

test('signing keys, build with the right hashes, sign and verify, a changed file refused, blobs uploaded once, versions kept, untrusted signer refused', async () => {
  const out = (name: string): string => join(tmp, name);
  const otherKey = out('other.pem');
  const v121 = modelCopy('1.2.1');
  const v130 = modelCopy('1.3.0');
  const [
    created,
    other,
    short,
    keys,
    builtModel,
    builtCode,
    signed,
    verified,
    pushed,
    pushedAgain,
    built121,
    pushed121,
    listed,
    described,
    describedVersion,
  ] = (await cliMany([
    { args: ['signing-key', 'create', 'release', '--passphrase-file', passFile] },
    { args: ['signing-key', 'create', 'other', '--out', otherKey, '--json'], env: { SIGHTLINE_SIGNING_KEY_PASSPHRASE: OTHER_PASSPHRASE } },
    { args: ['signing-key', 'create', 'weak', '--json'], env: { SIGHTLINE_SIGNING_KEY_PASSPHRASE: 'short' } },
    { args: ['signing-key', 'ls'] },
    { args: ['package', 'build', MODEL_DIR, '--out', out('model'), '--json'] },
    { args: ['package', 'build', APP_DIR, '--out', out('code'), '--sign-with', 'release', '--passphrase-file', passFile] },
    { args: ['package', 'sign', out('model'), '--key', 'release', '--passphrase-file', passFile] },
    { args: ['package', 'verify', out('model')] },
    { args: ['package', 'push', out('model'), '--progress', 'plain'] },
    { args: ['package', 'push', out('model')] },
    {
      args: ['package', 'build', v121, '--out', out('model-121'), '--sign-with', otherKey],
      env: { SIGHTLINE_SIGNING_KEY_PASSPHRASE: OTHER_PASSPHRASE },
    },
    { args: ['package', 'push', out('model-121'), '--json'] },
    { args: ['package', 'ls'] },
    { args: ['package', 'describe', 'blazeface-back-256'] },
    { args: ['package', 'describe', 'blazeface-back-256', '1.2.0', '--json'] },
  ])) as [Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result];

  // signing-key create: a key id, the private key encrypted and 0600 (in a 0700 folder), the public half registered.
  assert.equal(created.code, 0, created.stderr);
  const keyId = /key id ([0-9a-f]{16})/.exec(created.stdout)?.[1];
  assert.ok(keyId !== undefined, created.stdout);
  const keyFile = join(tmp, 'config/signing-keys/default/release.pem');
  assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(statSync(join(tmp, 'config/signing-keys')).mode & 0o777, 0o700);
  assert.equal(other.code, 0, other.stderr);
  assert.equal(json(other)['privateKeyFile'], otherKey);
  assert.equal(statSync(otherKey).mode & 0o777, 0o600);
  assert.equal(short.code, 7);
  assert.match(short.stderr, /^error PASSPHRASE_TOO_SHORT: /);
  assert.ok(!existsSync(join(tmp, 'config/signing-keys/default/weak.pem')));
  assert.match(keys.stdout, new RegExp(`^release\\s+${keyId}\\s`, 'm'));
  assert.doesNotMatch(keys.stdout, /weak/, 'a refused key is not registered');
  for (const r of [created, other, short, keys])
    assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSPHRASE) && !r.stdout.includes('PRIVATE KEY'));

  // build: every file with its length and SHA-256 as computed here from the sources.
  assert.equal(builtModel.code, 0, builtModel.stderr);
  const manifest = json<{
    manifest: { kind: string; name: string; version: string; files: { path: string; bytes: number; sha256: string }[] };
  }>(builtModel).manifest;
  assert.equal(manifest.kind, 'model');
  assert.equal(manifest.name, 'blazeface-back-256');
  const onnx = readFileSync(join(MODEL_DIR, ONNX));
  assert.deepEqual(
    manifest.files.find((f) => f.path === ONNX),
    { path: ONNX, bytes: onnx.length, sha256: '427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2' },
  );
  for (const f of manifest.files) {
    const bytes = readFileSync(join(MODEL_DIR, f.path));
    assert.equal(f.sha256, sha256(bytes), f.path);
    assert.equal(f.bytes, bytes.length, f.path);
  }
  assert.ok(
    manifest.files.some((f) => f.path === 'LICENSE'),
    'the licence travels with the model',
  );
  const onDisk = JSON.parse(readFileSync(join(out('model'), 'sightline-package.json'), 'utf8')) as unknown;
  assert.deepEqual(onDisk, manifest);

  // A code package: the bundle and its descriptor, built and signed in one go.
  assert.equal(builtCode.code, 0, builtCode.stderr);
  assert.match(builtCode.stdout, /^Built code package privacy-blur 0\.1\.0 /m);
  assert.match(builtCode.stdout, new RegExp(`Signed with key id ${keyId}`));
  const codeManifest = JSON.parse(readFileSync(join(out('code'), 'sightline-package.json'), 'utf8')) as typeof manifest;
  assert.deepEqual(
    codeManifest.files.map((f) => f.path),
    ['app.mjs', 'descriptor.json'],
  );
  assert.equal(codeManifest.files[0]?.sha256, sha256(readFileSync(join(out('code'), 'app.mjs'))));

  assert.equal(signed.code, 0, signed.stderr);
  assert.match(signed.stdout, new RegExp(`with key id ${keyId}: .*sightline-package\\.sig`));
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, new RegExp(`signed by key id ${keyId}; ${manifest.files.length} files match`));

  // push: every file uploaded once as packages/blobs/<sha256>, under one progress bar.
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(
    pushed.stdout,
    new RegExp(`^Pushed model package blazeface-back-256 1\\.2\\.0, signed by release: uploaded ${manifest.files.length} file\\(s\\)`, 'm'),
  );
  const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
  const kB = `${(total / 1000).toFixed(1)} kB`;
  // One bar over all the bytes of all the files (--progress plain: a line as each tenth passes), then the summary.
  const bars = pushed.stderr.split('\n').filter((l) => l.startsWith('uploading'));
  assert.ok(bars.length >= 2, pushed.stderr);
  for (const l of bars.slice(0, -1)) assert.match(l, new RegExp(`^uploading {3}[\\d.]+ k?B / ${kB} `));
  assert.match(bars.at(-1) ?? '', new RegExp(`^uploading {3}${kB} {2}100% `));
  const blob = await s.call<{ size: number; sha256: string }>(
    'GET',
    `/api/v1/projects/default/artifacts/packages/blobs/${manifest.files.find((f) => f.path === ONNX)?.sha256 ?? ''}`,
    undefined,
    env['SIGHTLINE_TOKEN'],
  );
  assert.equal(blob.status, 200);
  assert.equal(blob.body.size, onnx.length);

  // Versions are immutable; nothing was uploaded for the second try.
  assert.equal(pushedAgain.code, 6, pushedAgain.stderr);
  assert.match(pushedAgain.stderr, /^error PACKAGE_VERSION_EXISTS: /m);
  assert.match(pushedAgain.stderr, /^uploading {3}0 B {2}100%/m);

  // A new version with the same model file: only the changed descriptor is uploaded, the model is not.
  assert.equal(built121.code, 0, built121.stderr);
  assert.equal(pushed121.code, 0, pushed121.stderr);
  const r121 = json<{
    uploaded: { path: string }[];
    alreadyStored: { path: string }[];
    bytesUploaded: number;
    package: { signer: string };
  }>(pushed121);
  assert.deepEqual(
    r121.uploaded.map((f) => f.path),
    ['descriptor.json'],
  );
  assert.ok(r121.alreadyStored.some((f) => f.path === ONNX));
  assert.equal(r121.bytesUploaded, statSync(join(v121, 'descriptor.json')).size);
  assert.equal(r121.package.signer, 'other');

  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^blazeface-back-256\s+model\s+1\.2\.1\s+2$/m);
  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, new RegExp(`^1\\.2\\.0\\s+release\\s+${keyId}\\s+${manifest.files.length}\\s+${total}\\s`, 'm'));
  assert.match(described.stdout, /^1\.2\.1\s+other\s+[0-9a-f]{16}\s/m);
  const v = json<{ version: string; signer: string; keyId: string; files: unknown[] }>(describedVersion);
  assert.deepEqual([v.version, v.signer, v.keyId, v.files.length], ['1.2.0', 'release', keyId, manifest.files.length]);

  // A file changed after signing: refused locally (verify and push), nothing uploaded.
  cpSync(out('model'), out('tampered'), { recursive: true });
  const license = join(out('tampered'), 'LICENSE');
  writeFileSync(license, readFileSync(license, 'utf8').replace('Apache License', 'Apache Licence'));
  // The manifest itself changed after signing: the signature no longer verifies.
  cpSync(out('model'), out('remanifested'), { recursive: true });
  const mf = join(out('remanifested'), 'sightline-package.json');
  writeFileSync(mf, readFileSync(mf, 'utf8').replace('"version": "1.2.0"', '"version": "1.2.9"'));

  // The policy: only `other` may sign; a package signed by `release` is refused (here and by the server).
  const [tamperedVerify, tamperedPush, remanifested, policySet, policyGet, built130, untrusted, inUse, anySigner] = (await cliMany([
    { args: ['package', 'verify', out('tampered')] },
    { args: ['package', 'push', out('tampered')] },
    { args: ['package', 'push', out('remanifested')] },
    { args: ['package', 'policy', 'set', '--require-signed-by', 'other'] },
    { args: ['package', 'policy', 'get', '--json'] },
    { args: ['package', 'build', v130, '--out', out('model-130'), '--sign-with', 'release', '--passphrase-file', passFile] },
    { args: ['package', 'push', out('model-130')] },
    { args: ['signing-key', 'rm', 'other', '--yes'] },
    { args: ['package', 'policy', 'set', '--any-signer'] },
  ])) as [Result, Result, Result, Result, Result, Result, Result, Result, Result];
  for (const r of [tamperedVerify, tamperedPush]) {
    assert.equal(r.code, 9, r.stderr);
    assert.match(r.stderr, /^error PACKAGE_FILE_CHANGED: LICENSE in .* is not the file the manifest lists/m);
  }
  assert.equal(remanifested.code, 9, remanifested.stderr);
  assert.match(remanifested.stderr, /^error PACKAGE_SIGNATURE_INVALID: /m);
  assert.equal(policySet.code, 0, policySet.stderr);
  assert.match(policySet.stdout, /deploys only packages signed by other\./);
  assert.deepEqual(json<{ policy: { requireSignedBy: string[] } }>(policyGet).policy.requireSignedBy, ['other']);
  assert.equal(built130.code, 0, built130.stderr);
  assert.equal(untrusted.code, 9, untrusted.stderr);
  assert.match(
    untrusted.stderr,
    new RegExp(
      `^error PACKAGE_SIGNER_UNTRUSTED: The package is signed by key ${keyId}, but project default requires a signature by other; nothing was uploaded`,
      'm',
    ),
  );
  assert.doesNotMatch(untrusted.stderr, /^uploading/m);
  assert.equal(inUse.code, 6, inUse.stderr);
  assert.match(inUse.stderr, /^error SIGNING_KEY_IN_USE: /m);
  assert.equal(anySigner.code, 0, anySigner.stderr);

  // The server refuses what the CLI refused, on its own: an untrusted signer and a manifest changed after signing.
  await s.call('PUT', '/api/v1/projects/default/package-policy', { requireSignedBy: ['other'] }, env['SIGHTLINE_TOKEN']);
  const sig130 = JSON.parse(readFileSync(join(out('model-130'), 'sightline-package.sig'), 'utf8')) as unknown;
  const raw130 = readFileSync(join(out('model-130'), 'sightline-package.json'));
  const byServer = await s.call<{ error: { code: string } }>(
    'POST',
    '/api/v1/projects/default/packages',
    { manifestB64: raw130.toString('base64'), signature: sig130 },
    env['SIGHTLINE_TOKEN'],
  );
  assert.equal(byServer.body.error.code, 'PACKAGE_SIGNER_UNTRUSTED');
  const sig120 = JSON.parse(readFileSync(join(out('remanifested'), 'sightline-package.sig'), 'utf8')) as unknown;
  const changed = await s.call<{ error: { code: string } }>(
    'POST',
    '/api/v1/projects/default/packages',
    { manifestB64: readFileSync(mf).toString('base64'), signature: sig120 },
    env['SIGHTLINE_TOKEN'],
  );
  assert.equal(changed.body.error.code, 'PACKAGE_SIGNATURE_INVALID');
});

test('offline refusals: no passphrase without a terminal, a descriptor of neither kind, an unsigned package, a non-empty --out', async () => {
  const bad = join(tmp, 'bad-src');
  cpSync(MODEL_DIR, bad, { recursive: true });
  writeFileSync(join(bad, 'descriptor.json'), JSON.stringify({ name: 'x', version: '1.0.0' }));
  const wrongInput = join(tmp, 'bad-input');
  cpSync(MODEL_DIR, wrongInput, { recursive: true });
  const d = JSON.parse(readFileSync(join(wrongInput, 'descriptor.json'), 'utf8')) as { input: Record<string, unknown> };
  writeFileSync(join(wrongInput, 'descriptor.json'), JSON.stringify({ ...d, input: { ...d.input, layout: 'HWC' } }));
  const noEntry = join(tmp, 'no-entry');
  cpSync(join(APP_DIR, 'descriptor.json'), join(noEntry, 'descriptor.json'));
  const appDescriptor = JSON.parse(readFileSync(join(noEntry, 'descriptor.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(noEntry, 'descriptor.json'), JSON.stringify({ ...appDescriptor, entry: 'src/missing.ts' }));
  const [noPass, neither, badLayout, unsigned, notEmpty, rebuilt, buildFailed] = (await cliMany([
    { args: ['signing-key', 'create', 'nopass'] },
    { args: ['package', 'build', bad, '--out', join(tmp, 'o-bad')] },
    { args: ['package', 'build', wrongInput, '--out', join(tmp, 'o-bad-input')] },
    { args: ['package', 'build', MODEL_DIR, '--out', join(tmp, 'o-unsigned')] },
    { args: ['package', 'build', MODEL_DIR, '--out', join(tmp, 'o-unsigned')] },
    { args: ['package', 'build', MODEL_DIR, '--out', join(tmp, 'o-unsigned'), '--force'] },
    { args: ['package', 'build', noEntry, '--out', join(tmp, 'o-no-entry')] },
  ])) as [Result, Result, Result, Result, Result, Result, Result];
  assert.equal(noPass.code, 2);
  assert.match(noPass.stderr, /^error PASSPHRASE_REQUIRED: .*--passphrase-file FILE or set SIGHTLINE_SIGNING_KEY_PASSPHRASE/m);
  assert.equal(neither.code, 7);
  assert.match(neither.stderr, /^error DESCRIPTOR_INVALID: .* is neither a code package descriptor/m);
  assert.equal(badLayout.code, 7);
  assert.match(badLayout.stderr, /^error DESCRIPTOR_INVALID: .* is invalid at input\.layout: /m);
  assert.ok(!existsSync(join(tmp, 'o-bad-input')), 'nothing written for a bad descriptor');
  assert.equal(unsigned.code, 0, unsigned.stderr);
  assert.equal(notEmpty.code, 6);
  assert.match(notEmpty.stderr, /^error FILE_EXISTS: .* add --force/m);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.equal(buildFailed.code, 7, buildFailed.stderr);
  assert.match(buildFailed.stderr, /^error BUILD_FAILED: Bundling .*no-entry failed: The entry src\/missing\.ts does not exist\./m);
  assert.ok(!existsSync(join(tmp, 'o-no-entry')), 'a failed build leaves no package folder');
  const [push] = (await cliMany([{ args: ['package', 'push', join(tmp, 'o-unsigned')] }])) as [Result];
  assert.equal(push.code, 7);
  assert.match(push.stderr, /^error PACKAGE_UNSIGNED: .*sightline package sign/m);
});
