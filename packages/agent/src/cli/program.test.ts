import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealArchive } from '../../test/helpers/archive.js';
import { FakeControlPlane } from '../../test/helpers/fake-control-plane.js';
import type { RegisterResult } from '../identity/register.js';
import { EXIT, run } from './program.js';

interface StatusJson {
  registered: boolean;
  device: string;
  controlPlane: { serverCertSha256: string };
  rootKeyProtection: string;
  warning: string;
  integrity: { state: string };
  agent: { running: boolean };
}

/** The command's behaviour in-process (fast); test/cli.test.ts runs the real binary for what needs a process. */

const PASS = 'saffron-ridge-comet-7';
const tmp = mkdtempSync(join(tmpdir(), 'sl-cli-'));
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '' }; // no SIGHTLINE_*, no TPM
let cp: FakeControlPlane;

before(async () => {
  cp = await FakeControlPlane.start();
});
after(async () => {
  await cp.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { out: (t) => (out += t), err: (t) => (err += t), env: { ...env, ...extraEnv } });
  return { code, out, err };
}

async function archive(device: string): Promise<string> {
  const file = join(tmp, `${device}.age`);
  writeFileSync(file, await sealArchive(await cp.provision(device), PASS));
  return file;
}

test('usage: help and version exit 0; unknown commands or flags, missing options, reset without --full exit 2', async () => {
  const help = await cli(['--help']);
  assert.equal(help.code, EXIT.OK);
  assert.match(help.out, /Exit codes:/);
  assert.match((await cli(['--version'])).out, /^\d+\.\d+\.\d+\n$/);
  for (const args of [
    ['frobnicate'],
    ['status', '--data-dir', tmp, '--bogus'],
    ['reset', '--data-dir', tmp],
    ['register', '--data-dir', tmp],
    ['start'],
    ['register', '--archive', 'x', '--data-dir', tmp, '--root-key', 'hsm'],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, EXIT.USAGE, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /^error USAGE: .+\n$/);
  }
});

test('register: wrong passphrase exits 5, no passphrase at all exits 2, a bad setting exits 7; nothing is written', async () => {
  const file = await archive('p-bad');
  const dataDir = join(tmp, 'p-bad');
  writeFileSync(join(tmp, 'wrong.txt'), 'not-the-passphrase\n');
  const wrong = await cli(['register', '--archive', file, '--data-dir', dataDir, '--passphrase-file', join(tmp, 'wrong.txt')]);
  assert.equal(wrong.code, EXIT.ARCHIVE);
  assert.match(wrong.err, /^error ARCHIVE_PASSPHRASE_WRONG: /);
  const none = await cli(['register', '--archive', file, '--data-dir', dataDir]);
  assert.equal(none.code, EXIT.USAGE);
  assert.match(none.err, /PASSPHRASE_MISSING/);
  const badEnv = await cli(['start', '--data-dir', dataDir], { SIGHTLINE_AGENT_HEARTBEAT_SECONDS: 'soon' });
  assert.equal(badEnv.code, EXIT.STORAGE);
  assert.match(badEnv.err, /SIGHTLINE_AGENT_HEARTBEAT_SECONDS/);
  const notReg = await cli(['start', '--data-dir', dataDir]);
  assert.equal(notReg.code, EXIT.STATE);
  assert.match(notReg.err, /NOT_REGISTERED/);
  assert.equal(existsSync(dataDir), false);
  assert.equal(existsSync(file), true);
});

test('register (passphrase from the environment), already registered (4), status, reset --full, unprovisioned', async () => {
  const file = await archive('p-01');
  const dataDir = join(tmp, 'p-01');
  const reg = await cli(['register', '--archive', file, '--data-dir', dataDir, '--root-key', 'key-file', '--json'], {
    SIGHTLINE_ARCHIVE_PASSPHRASE: PASS,
  });
  assert.equal(reg.code, EXIT.OK, reg.err);
  const result = JSON.parse(reg.out) as RegisterResult;
  assert.equal(result.device, 'p-01');
  assert.equal(result.archive.deleted, true);
  assert.match(reg.err, /WARNING: no TPM/, 'the key-file warning is loud even with --json');

  const again = await cli(['register', '--archive', await archive('p-01b'), '--data-dir', dataDir], { SIGHTLINE_ARCHIVE_PASSPHRASE: PASS });
  assert.equal(again.code, EXIT.STATE);
  assert.match(again.err, /ALREADY_REGISTERED/);

  const st = JSON.parse((await cli(['status', '--data-dir', dataDir, '--json'])).out) as StatusJson;
  assert.equal(st.registered, true);
  assert.equal(st.device, 'p-01');
  assert.equal(st.controlPlane.serverCertSha256, cp.pin);
  assert.equal(st.rootKeyProtection, 'key-file');
  assert.match(st.warning, /WARNING/);
  assert.equal(st.integrity.state, 'unchecked', 'a development checkout has no manifest, and says so');
  assert.equal(st.agent.running, false);
  const human = await cli(['status', '--data-dir', dataDir]);
  assert.match(human.out, /Root key: +KEY FILE/);
  assert.match(human.out, /Integrity: +unchecked/);

  const reset = await cli(['reset', '--full', '--data-dir', dataDir]);
  assert.equal(reset.code, EXIT.OK, reset.err);
  assert.match(reset.out, /root key file overwritten and deleted/);
  assert.deepEqual(readdirSync(dataDir), []);
  assert.equal((JSON.parse((await cli(['status', '--data-dir', dataDir, '--json'])).out) as StatusJson).registered, false);
  assert.equal((await cli(['reset', '--full', '--data-dir', join(tmp, 'never-existed')])).code, EXIT.OK, 'resetting nothing is fine');
});
