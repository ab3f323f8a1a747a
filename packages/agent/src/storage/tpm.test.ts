import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError } from '../errors.js';
import { fullReset } from '../reset/reset.js';
import { grepDir } from '../../test/helpers/grep.js';
import { RootKeyManager } from './root-key.js';
import { EncryptedStore } from './store.js';
import { Tpm } from './tpm.js';

/**
 * The root key sealed by a real TPM 2.0 software model: Debian's swtpm
 * (packages swtpm, swtpm-tools) driven by tpm2-tools (package tpm2-tools)
 * over the swtpm TCTI. Skipped, saying why, where they are not installed.
 */
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = ['swtpm', 'tpm2_createprimary', 'tpm2_unseal', 'tpm2_evictcontrol'].filter((c) => !have(c));
const skip = missing.length > 0 ? `needs ${missing.join(', ')} (apt-get install swtpm swtpm-tools tpm2-tools)` : false;

let swtpm: ChildProcess | undefined;
let stateDir = '';
let env: NodeJS.ProcessEnv = {};

async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port < 65000) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = createServer()
          .once('error', () => resolve(false))
          .listen(port + 1, '127.0.0.1', () => s.close(() => resolve(true)));
      });
      if (ok) return port;
    }
  }
}

before(async () => {
  if (skip !== false) return;
  stateDir = mkdtempSync(join(tmpdir(), 'sl-swtpm-'));
  const port = await freePortPair();
  swtpm = spawn(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--server',
      `type=tcp,port=${port}`,
      '--ctrl',
      `type=tcp,port=${port + 1}`,
      '--tpmstate',
      `dir=${stateDir}`,
      '--flags',
      'not-need-init,startup-clear',
    ],
    { stdio: 'ignore' },
  );
  env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${port}` };
  const tpm = new Tpm(undefined, env);
  for (let i = 0; i < 50 && !(await tpm.available()); i++) await new Promise((r) => setTimeout(r, 100));
});
after(() => {
  swtpm?.kill();
  if (stateDir !== '') rmSync(stateDir, { recursive: true, force: true });
});

test('TPM: seal, unseal and evict a secret at a persistent handle', { skip }, async () => {
  const tpm = new Tpm(undefined, env);
  assert.equal(await tpm.available(), true);
  const secret = randomBytes(32);
  const handle = await tpm.seal(secret);
  assert.match(handle, /^0x8151[0-9a-f]{4}$/);
  assert.deepEqual(await tpm.unseal(handle), secret);
  const second = await tpm.seal(randomBytes(32));
  assert.notEqual(second, handle, 'a second key gets its own handle');
  await tpm.evict(handle);
  await tpm.evict(second);
  assert.equal((await tpm.persistentHandles()).includes(handle), false);
  await assert.rejects(tpm.unseal(handle), (e: unknown) => e instanceof AgentError && e.code === 'TPM_FAILED');
});

test('TPM root key: nothing secret on disk; full reset evicts it so the old files can never be opened', { skip }, async () => {
  const tpm = new Tpm(undefined, env);
  const dir = mkdtempSync(join(tmpdir(), 'sl-tpm-data-'));
  const m = new RootKeyManager(dir, tpm);
  const root = await m.create('auto', new Date());
  assert.equal(root.meta.protection, 'tpm', 'auto picks the TPM when one answers');
  assert.equal(existsSync(join(dir, 'root.key')), false);
  const store = new EncryptedStore(join(dir, 'store'), root.key);
  await store.writeJson('identity', { secret: 'tpm-protected plaintext' });
  assert.deepEqual(grepDir(dir, [root.key, root.key.toString('base64'), 'tpm-protected plaintext']), []);

  const loaded = await m.load();
  assert.deepEqual(loaded.key, root.key);
  const report = await fullReset(dir, tpm);
  assert.equal(report.rootKeyDestroyed, true);
  assert.match(report.detail, /evicted/);
  assert.deepEqual(readdirSync(dir), []);
  await assert.rejects(tpm.unseal(root.meta.protection === 'tpm' ? root.meta.handle : ''), (e: unknown) => e instanceof AgentError);
});
