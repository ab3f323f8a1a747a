import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decrypter } from 'age-encryption';
import type { TestServer } from '../../server/test/harness.js';
import { json, runCli, runCliMany, startCliServer, stopCliServer, type Result } from './cli-process.js';

/** `sightline key` (customer-managed keys) and `sightline device` against the server harness. */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-dev-'));
let s: TestServer;
let env: Record<string, string>;
const cli = (args: string[], options: { cwd?: string } = {}): Promise<Result> => runCli(args, env, options);
const cliMany = (runs: string[][]): Promise<Result[]> => runCliMany(runs.map((args) => ({ args, env })));

before(async () => {
  ({ s, env } = await startCliServer(tmp));
});
after(() => stopCliServer(s, tmp));

test('key create, list, rotate, disable, schedule-deletion (date and warning), cancel-deletion; --project on each', async () => {
  const policy = join(tmp, 'key-policy.json');
  writeFileSync(
    policy,
    JSON.stringify({
      version: '2026-01-01',
      statements: [{ effect: 'allow', actions: ['key:Use'], resources: ['*'], conditions: { mfaPresent: true } }],
    }),
  );
  const project = await s.call('POST', '/api/v1/projects', { name: 'store-42' }, env['SIGHTLINE_TOKEN']);
  assert.equal(project.status, 201);
  // One process runs the whole sequence (a Node start-up per command would dominate the test's time).
  const [
    created,
    other,
    withPolicy,
    rotated,
    listed,
    listedOther,
    dup,
    disabled,
    enabled,
    scheduled,
    tooSoon,
    missing,
    cancelled,
    described,
  ] = (await cliMany([
    ['key', 'create', 'cams', '--description', 'camera credentials'],
    ['key', 'create', 'cams', '--project', 'store-42', '--json'],
    ['key', 'create', 'guarded', '--policy-file', policy, '--json'],
    ['key', 'rotate', 'cams'],
    ['key', 'list'],
    ['key', 'list', '--project', 'store-42', '--json'],
    ['key', 'create', 'cams'],
    ['key', 'disable', 'cams', '--json'],
    ['key', 'enable', 'cams'],
    ['key', 'schedule-deletion', 'cams', '--days', '7'],
    ['key', 'schedule-deletion', 'cams', '--project', 'store-42', '--days', '6'],
    ['key', 'describe', 'nope'],
    ['key', 'cancel-deletion', 'cams'],
    ['key', 'describe', 'cams', '--json'],
  ])) as [Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result, Result];
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^Created key cams in project default \(id [0-9a-f-]+, version 1\)\.$/m);
  assert.equal(json(other)['project'], 'store-42');
  assert.equal(json(withPolicy)['hasPolicy'], true);

  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /version 2/);
  assert.match(listed.stdout, /^NAME +MANAGED +PURPOSE +STATE +VERSION +DELETION +DESCRIPTION$/m);
  assert.match(listed.stdout, /^cams +customer +\S+ +enabled +2 +- +camera credentials$/m);
  assert.deepEqual(
    json<{ keys: { name: string; project: string }[] }>(listedOther)
      .keys.filter((k) => k.name === 'cams')
      .map((k) => k.project),
    ['store-42'],
  );
  assert.equal(dup.code, 6);
  assert.match(dup.stderr, /^error ALREADY_EXISTS: /);
  assert.equal(json(disabled)['state'], 'disabled');
  assert.equal(enabled.code, 0, enabled.stderr);

  assert.equal(scheduled.code, 0, scheduled.stderr);
  const date = /scheduled for deletion on (\S+);/.exec(scheduled.stdout)?.[1] ?? '';
  const days = (Date.parse(date) - s.clock.now()) / 86_400_000;
  assert.ok(days > 6.9 && days < 7.1, `deletion date ${date}`);
  assert.match(
    scheduled.stdout,
    /^WARNING: On \S+ the key material of cams will be destroyed, and everything encrypted under the key will be gone for good/m,
  );
  assert.match(scheduled.stdout, /sightline key cancel-deletion cams$/m);
  assert.equal(tooSoon.code, 2);
  assert.match(tooSoon.stderr, /^error USAGE: .*--days.*from 7 to 30/);
  assert.equal(missing.code, 5);
  assert.match(missing.stderr, /^error KEY_NOT_FOUND: /);

  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /it is disabled now/);
  const d = json<{ state: string; deletionDate: string | null; versions: unknown[] }>(described);
  assert.equal(d.state, 'disabled');
  assert.equal(d.deletionDate, null);
  assert.equal(d.versions.length, 2);
});

test('device provision writes a 0600 archive that opens with the passphrase printed once; list, tag, rename; deregister needs --yes', async () => {
  const work = join(tmp, 'work');
  mkdirSync(work);
  const c2 = join(tmp, 'c2.age');
  const [human, [scripted, badNet] = []] = await Promise.all([
    cli(['device', 'provision', 'cam-01', '--ntp', 'ntp.example.com'], { cwd: work }),
    cliMany([
      ['device', 'provision', 'cam-02', '--ip', '10.0.0.5/24', '--gateway', '10.0.0.1', '--dns', '10.0.0.2', '--out', c2, '--json'],
      ['device', 'provision', 'cam-03', '--ip', '10.0.0.5/24'],
    ]),
  ]);
  assert.equal(human.code, 0, human.stderr);
  const file = join(work, 'cam-01.sightline-archive.age');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const passphrase = /^Passphrase: (\S+)$/m.exec(human.stdout)?.[1] ?? '';
  assert.ok(passphrase.length >= 20);
  assert.equal(human.stdout.split(passphrase).length, 2, 'the passphrase is printed exactly once');
  assert.match(human.stdout, /can be shown again.*single-use and expires at \d{4}-\d\d-\d\dT/);
  const d = new Decrypter();
  d.addPassphrase(passphrase);
  const archive = JSON.parse(await d.decrypt(readFileSync(file), 'text')) as { device: string; ntp: string[]; network: { mode: string } };
  assert.equal(archive.device, 'cam-01');
  assert.deepEqual(archive.ntp, ['ntp.example.com']);
  assert.equal(archive.network.mode, 'dhcp');

  assert.ok(scripted !== undefined && badNet !== undefined);
  assert.equal(scripted.code, 0, scripted.stderr);
  const sj = json<{ device: string; archiveFile: string; archiveSha256: string; passphrase: string; expiresAt: string }>(scripted);
  assert.equal(sj.device, 'cam-02');
  assert.equal(sj.archiveFile, c2);
  assert.equal(statSync(c2).mode & 0o777, 0o600);
  const d2 = new Decrypter();
  d2.addPassphrase(sj.passphrase);
  const a2 = JSON.parse(await d2.decrypt(readFileSync(sj.archiveFile), 'text')) as { network: unknown };
  assert.deepEqual(a2.network, { mode: 'static', address: '10.0.0.5/24', gateway: '10.0.0.1', dns: ['10.0.0.2'] });
  assert.ok(Date.parse(sj.expiresAt) > s.clock.now());
  assert.equal(badNet.code, 2);
  assert.match(badNet.stderr, /^error USAGE: A static address needs all of --ip/);

  // A real process without a terminal: deregister without --yes is refused.
  const [noYes, rest] = await Promise.all([
    cli(['device', 'deregister', 'cam-02']),
    cliMany([
      ['device', 'provision', 'cam-09', '--out', file],
      ['device', 'list'],
      ['device', 'tag', 'cam-02', 'site=store-42', 'floor=2'],
      ['device', 'tag', 'cam-02', '--remove', 'floor', '--json'],
      ['device', 'rename', 'cam-01', 'cam-01a'],
      ['device', 'reboot', 'cam-01a'],
      ['device', 'jobs', 'cam-01a', '--json'],
      ['device', 'deregister', 'cam-01a', '--yes'],
      ['device', 'list', '--json'],
    ]),
  ]);
  const [overwrite, listed, tagged, untagged, renamed, reboot, jobs, yes, after] = rest as [
    Result,
    Result,
    Result,
    Result,
    Result,
    Result,
    Result,
    Result,
    Result,
  ];
  assert.equal(noYes.code, 2);
  assert.match(noYes.stderr, /^error CONFIRMATION_REQUIRED: Deregister device cam-02: .*pass --yes/);
  assert.equal(overwrite.code, 6);
  assert.match(overwrite.stderr, /^error FILE_EXISTS: .*refusing to overwrite/);
  assert.equal(readFileSync(file).subarray(0, 21).toString(), 'age-encryption.org/v1');
  assert.match(listed.stdout, /^NAME +STATE +CONNECTION +INTEGRITY +AGENT +UPDATE +TAGS$/m);
  assert.match(listed.stdout, /^cam-01 +provisioned +never seen +unknown +- +- +-$/m);
  assert.equal(tagged.code, 0, tagged.stderr);
  assert.deepEqual(json(untagged)['tags'], { site: 'store-42' });
  assert.equal(renamed.code, 0, renamed.stderr);
  assert.equal(reboot.code, 2);
  assert.match(reboot.stderr, /^error CONFIRMATION_REQUIRED: Reboot device cam-01a/);
  assert.deepEqual(json(jobs), { jobs: [] });
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /^Deregistered device cam-01a/);
  const states = Object.fromEntries(json<{ devices: { name: string; state: string }[] }>(after).devices.map((x) => [x.name, x.state]));
  assert.deepEqual(states, { 'cam-01a': 'deregistered', 'cam-02': 'provisioned' });
  assert.ok(!existsSync(join(work, 'cam-09.sightline-archive.age')));
});
