import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../clock.js';
import { AgentError } from '../errors.js';
import { MANIFEST_FILE, buildManifest, compareTree, signManifest, verifyManifest } from './manifest.js';
import { IntegrityMonitor } from './monitor.js';

const release = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');

/** A copy of an installed agent: a few files in folders, plus its signed manifest. */
async function installed(sign: KeyObject = release.privateKey): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'sl-integrity-'));
  mkdirSync(join(root, 'src', 'run'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'package.json'), '{"name":"@sightline/agent","version":"1.2.3"}');
  writeFileSync(join(root, 'bin', 'sightline-agent.js'), '#!/usr/bin/env node\n');
  writeFileSync(join(root, 'src', 'run', 'agent.ts'), 'export const x = 1;\n');
  const payload = await buildManifest(root, { name: '@sightline/agent', version: '1.2.3', createdAt: new Date() });
  writeFileSync(join(root, MANIFEST_FILE), JSON.stringify(signManifest(payload, sign)));
  return root;
}

const monitor = (root: string, keys: KeyObject[] = [release.publicKey]): IntegrityMonitor =>
  new IntegrityMonitor({ root, trustedKeys: keys, clock: systemClock, intervalMs: 3_600_000 });

test('RFC 8032 test vector 1: Node Ed25519 signs as the spec says (the manifest signature primitive)', async () => {
  const { createPrivateKey, sign } = await import('node:crypto');
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const sig = sign(null, Buffer.alloc(0), key).toString('hex');
  assert.equal(
    sig,
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  );
});

test('an untouched installation verifies', async () => {
  const s = await monitor(await installed()).check();
  assert.equal(s.state, 'verified');
  assert.match(s.detail ?? '', /3 files match/);
  assert.ok(s.checkedAt !== undefined);
});

test('a changed, an added and a missing file each make it compromised, naming the file', async () => {
  const changed = await installed();
  writeFileSync(join(changed, 'src', 'run', 'agent.ts'), 'export const x = 2;\n');
  const c = await monitor(changed).check();
  assert.equal(c.state, 'compromised');
  assert.equal(c.detail, 'src/run/agent.ts changed');

  const added = await installed();
  writeFileSync(join(added, 'src', 'backdoor.ts'), 'evil');
  const a = await monitor(added).check();
  assert.equal(a.state, 'compromised');
  assert.equal(a.detail, 'src/backdoor.ts added');

  const missing = await installed();
  rmSync(join(missing, 'bin', 'sightline-agent.js'));
  const m = await monitor(missing).check();
  assert.equal(m.state, 'compromised');
  assert.equal(m.detail, 'bin/sightline-agent.js missing');

  const linked = await installed();
  rmSync(join(linked, 'package.json'));
  symlinkSync('/etc/hostname', join(linked, 'package.json'));
  assert.equal((await monitor(linked).check()).detail, 'package.json changed');
});

test('a manifest signed by another key, or edited after signing, is compromised; a bad file is too', async () => {
  const foreign = await installed(other.privateKey);
  const f = await monitor(foreign).check();
  assert.equal(f.state, 'compromised');
  assert.match(f.detail ?? '', /INTEGRITY_SIGNATURE_INVALID/);

  const edited = await installed();
  const signed = JSON.parse(readFileSync(join(edited, MANIFEST_FILE), 'utf8')) as { payload: string };
  const payload = JSON.parse(Buffer.from(signed.payload, 'base64').toString('utf8')) as { files: Record<string, string> };
  writeFileSync(join(edited, 'src', 'run', 'agent.ts'), 'evil');
  payload.files['src/run/agent.ts'] = 'f'.repeat(64);
  signed.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
  writeFileSync(join(edited, MANIFEST_FILE), JSON.stringify(signed));
  assert.equal((await monitor(edited).check()).state, 'compromised');

  assert.throws(
    () => verifyManifest('{"not":"a manifest"}', [release.publicKey]),
    (e: unknown) => e instanceof AgentError && e.code === 'INTEGRITY_MANIFEST_INVALID',
  );
});

test('no manifest (a development checkout) or no release key is unchecked, and says so', async () => {
  const root = await installed();
  rmSync(join(root, MANIFEST_FILE));
  const s = await monitor(root).check();
  assert.equal(s.state, 'unchecked');
  assert.match(s.detail ?? '', /NOT verified/);
  const noKey = await monitor(await installed(), []).check();
  assert.equal(noKey.state, 'unchecked');
  assert.match(noKey.detail ?? '', /no release key/);
});

test('compromised is sticky: restoring the file does not make this process verified again', async () => {
  const root = await installed();
  const m = monitor(root);
  const seen: string[] = [];
  m.onChange((s) => seen.push(s.state));
  const copy = mkdtempSync(join(tmpdir(), 'sl-integrity-orig-'));
  cpSync(join(root, 'src'), copy, { recursive: true });
  writeFileSync(join(root, 'src', 'run', 'agent.ts'), 'evil');
  assert.equal((await m.check()).state, 'compromised');
  cpSync(copy, join(root, 'src'), { recursive: true });
  assert.equal((await m.check()).state, 'compromised');
  assert.equal((await monitor(root).check()).state, 'verified', 'a fresh start verifies the restored files');
  assert.deepEqual(seen, ['compromised']);
});

test('the hourly re-check runs on the injected interval', async () => {
  const root = await installed();
  const m = new IntegrityMonitor({ root, trustedKeys: [release.publicKey], clock: systemClock, intervalMs: 20 });
  await m.check();
  const ac = new AbortController();
  const running = m.run(ac.signal);
  writeFileSync(join(root, 'src', 'late.ts'), 'x');
  const until = Date.now() + 5000;
  while (m.status().state !== 'compromised' && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  ac.abort();
  await running;
  assert.equal(m.status().state, 'compromised');
  assert.equal(
    (await compareTree(root, verifyManifest(readFileSync(join(root, MANIFEST_FILE), 'utf8'), [release.publicKey])))[0]?.path,
    'src/late.ts',
  );
});
