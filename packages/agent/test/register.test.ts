import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProvisioningArchive } from '../src/archive/archive.js';
import { ControlPlaneFetcher } from '../src/client/control-plane-fetcher.js';
import { AgentError, ControlPlaneError } from '../src/errors.js';
import { keyPem } from '../src/identity/keys.js';
import { register, type RegisterOptions } from '../src/identity/register.js';
import { layout } from '../src/storage/data-dir.js';
import { RECORD, identityRecord } from '../src/storage/records.js';
import { RootKeyManager } from '../src/storage/root-key.js';
import { EncryptedStore } from '../src/storage/store.js';
import { Tpm } from '../src/storage/tpm.js';
import { sealArchive } from './helpers/archive.js';
import { FakeControlPlane } from './helpers/fake-control-plane.js';
import { grepDir, pemBodyPieces } from './helpers/grep.js';
import { createCa } from './helpers/pki.js';
import { TestTufRepo } from './helpers/tuf-repo.js';
import { TUF_RECORDS } from '../src/update/updater.js';

/**
 * Registration against a control plane over real mTLS (a fake device API,
 * same wire contract): the happy path, then every refusal issue 5 lists,
 * each asserting its error code and that nothing was written.
 */

const PASS = 'tiger-lamp-orbit-velvet';
const tmp = mkdtempSync(join(tmpdir(), 'sl-register-'));
const noTpm = new Tpm(undefined, { PATH: '/nonexistent' });
let cp: FakeControlPlane;

before(async () => {
  cp = await FakeControlPlane.start();
});
after(async () => {
  await cp.close();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
async function archiveFile(content: ProvisioningArchive, passphrase = PASS): Promise<string> {
  const file = join(tmp, `archive-${++n}.age`);
  writeFileSync(file, await sealArchive(content, passphrase));
  return file;
}

function opts(archivePath: string, dataDir: string, over: Partial<RegisterOptions> = {}): RegisterOptions {
  return {
    dataDir,
    archivePath,
    passphrase: PASS,
    rootKeyMode: 'auto',
    tpm: noTpm,
    fetcherFactory: (id) => new ControlPlaneFetcher(id),
    now: () => new Date(),
    ...over,
  };
}

const fresh = (): string => join(tmp, `data-${++n}`);

async function refused(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => (err instanceof AgentError || err instanceof ControlPlaneError) && err.code === code);
}

test('register: key made here, certificate stored sealed, archive deleted, nothing readable on disk', async () => {
  const archive = await cp.provision('cam-01');
  const file = await archiveFile(archive);
  const dataDir = fresh();
  const result = await register(opts(file, dataDir));
  assert.equal(result.device, 'cam-01');
  assert.equal(result.deviceId, 'dev_1');
  assert.equal(result.rootKeyProtection, 'key-file');
  assert.equal(result.archive.deleted, true);
  assert.equal(existsSync(file), false, 'seed point 11: the archive is deleted after registering');

  const p = layout(dataDir);
  assert.deepEqual(readdirSync(p.root).sort(), ['root-key.json', 'root.key', 'store']);
  assert.deepEqual(readdirSync(p.store).sort(), ['identity.sealed', 'state.sealed']);
  const root = await new RootKeyManager(dataDir, noTpm).load();
  const identity = await new EncryptedStore(p.store, root.key).readJson(RECORD.identity, identityRecord);
  assert.equal(identity?.controlPlane.serverCertSha256, cp.pin);
  assert.equal(identity?.deviceId, 'dev_1');

  // Seed point 12: no private key, certificate key, secret or known plaintext in the data folder.
  const opKeyPem = keyPem(Buffer.from(identity.keyPkcs8, 'base64'));
  const hits = grepDir(dataDir, [
    ...pemBodyPieces(opKeyPem),
    identity.keyPkcs8.slice(0, 40),
    ...pemBodyPieces(archive.provisioning.keyPem),
    ...pemBodyPieces(identity.certPem),
    PASS,
    'PRIVATE KEY',
    'cam-01',
    'shop-1',
    cp.pin,
    cp.url,
  ]);
  assert.deepEqual(hits, []);

  await refused(register(opts(await archiveFile(await cp.provision('cam-01b')), dataDir)), 'ALREADY_REGISTERED');
});

test('the same archive used twice: PROVISIONING_CERT_USED, nothing written', async () => {
  const archive = await cp.provision('cam-02');
  await register(opts(await archiveFile(archive), fresh()));
  const again = await archiveFile(archive);
  const dataDir = fresh();
  await refused(register(opts(again, dataDir)), 'PROVISIONING_CERT_USED');
  assert.equal(existsSync(dataDir), false);
  assert.equal(existsSync(again), true, 'a refused archive is not deleted');
});

test('an expired provisioning certificate: PROVISIONING_CERT_EXPIRED, nothing written (an existing empty folder stays empty)', async () => {
  const dataDir = fresh();
  mkdirSync(dataDir);
  await refused(register(opts(await archiveFile(await cp.provision('cam-03', { expired: true })), dataDir)), 'PROVISIONING_CERT_EXPIRED');
  assert.deepEqual(readdirSync(dataDir), []);
});

test("a CSR for another device's name: CSR_NAME_MISMATCH, nothing written", async () => {
  const archive = await cp.provision('cam-04');
  const dataDir = fresh();
  await refused(register(opts(await archiveFile({ ...archive, device: 'cam-other' }), dataDir)), 'CSR_NAME_MISMATCH');
  assert.equal(existsSync(dataDir), false);
});

test('a provisioning certificate from another CA: CERT_UNTRUSTED, nothing written', async () => {
  const archive = await cp.provision('cam-05', { issuer: await createCa('Rogue CA') });
  const dataDir = fresh();
  await refused(register(opts(await archiveFile(archive), dataDir)), 'CERT_UNTRUSTED');
  assert.equal(existsSync(dataDir), false);
});

test('a control plane that is not the pinned one: SERVER_PIN_MISMATCH, nothing written, and the archive still works afterwards', async () => {
  const archive = await cp.provision('cam-06');
  const dataDir = fresh();
  const wrongPin = { ...archive, controlPlane: { ...archive.controlPlane, serverCertSha256: 'b'.repeat(64) } };
  await refused(register(opts(await archiveFile(wrongPin), dataDir)), 'SERVER_PIN_MISMATCH');
  assert.equal(existsSync(dataDir), false);
  // Nothing reached the impostor, so the provisioning certificate was not spent.
  const ok = await register(opts(await archiveFile(archive), dataDir));
  assert.equal(ok.device, 'cam-06');
});

test('a wrong passphrase or a damaged archive: nothing written, the archive is kept', async () => {
  const archive = await cp.provision('cam-07');
  const file = await archiveFile(archive);
  const dataDir = fresh();
  await refused(register(opts(file, dataDir, { passphrase: 'not it' })), 'ARCHIVE_PASSPHRASE_WRONG');
  writeFileSync(join(tmp, 'damaged.age'), 'age-encryption.org/v1\n-> scrypt zz 10\nbad\n--- abc\n');
  await refused(register(opts(join(tmp, 'damaged.age'), dataDir)), 'ARCHIVE_CORRUPT');
  assert.equal(existsSync(dataDir), false);
  assert.equal(existsSync(file), true);
});

test('the control plane unreachable: CONTROL_PLANE_UNREACHABLE, nothing written', async () => {
  const archive = await cp.provision('cam-08');
  const dataDir = fresh();
  const down = { ...archive, controlPlane: { ...archive.controlPlane, url: 'https://127.0.0.1:1' } };
  await refused(register(opts(await archiveFile(down), dataDir)), 'CONTROL_PLANE_UNREACHABLE');
  assert.equal(existsSync(dataDir), false);
});

test('the archive\'s TUF root becomes the update trust anchor; one that does not verify refuses the archive before registering', async () => {
  const repo = TestTufRepo.create(join(tmp, `tuf-${++n}`));
  const dataDir = fresh();
  await register(opts(await archiveFile({ ...(await cp.provision('cam-tuf')), tufRoot: repo.rootBytes.toString('base64') }), dataDir));
  const root = await new RootKeyManager(dataDir, noTpm).load();
  const stored = await new EncryptedStore(layout(dataDir).store, root.key).read(TUF_RECORDS.root);
  assert.deepEqual(stored, repo.rootBytes);

  // A root whose signature no longer matches its content: refused, and the provisioning certificate stays unused.
  const forged = JSON.parse(repo.rootBytes.toString('utf8')) as { signed: { expires: string } };
  forged.signed.expires = '2099-01-01T00:00:00Z';
  const archive = await cp.provision('cam-tuf-forged');
  const other = fresh();
  await refused(register(opts(await archiveFile({ ...archive, tufRoot: Buffer.from(JSON.stringify(forged)).toString('base64') }), other)), 'ARCHIVE_INVALID');
  assert.equal(existsSync(other), false);
  await register(opts(await archiveFile(archive), fresh()));
});
