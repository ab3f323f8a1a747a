import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/clock.js';
import { Launcher } from '../src/launcher/launcher.js';
import { Tpm } from '../src/storage/tpm.js';
import { FakeControlPlane } from './helpers/fake-control-plane.js';
import { TestTufRepo, remoteInstall, updateDevice, type UpdateDevice } from './helpers/tuf-repo.js';

/**
 * The launcher with real child processes: tiny releases whose entry point
 * reports healthy (writes the health file with its pid), hangs, or crashes.
 * Installed through the real update path, so every slot is a signed release.
 */

const work = mkdtempSync(join(tmpdir(), 'sl-launch-'));
let cp: FakeControlPlane;
let repo: TestTufRepo;
let dev: UpdateDevice;

// CommonJS on purpose: the slot has no package.json saying "module".
const HEALTHY = `require('node:fs').writeFileSync(process.env.SIGHTLINE_HEALTH_FILE, JSON.stringify({ pid: process.pid }));
setTimeout(() => process.exit(0), 100);\n`;
const HANGS = 'setInterval(() => undefined, 1000);\n';
const CRASHES = 'process.exit(1);\n';
const entry = (code: string) => ({ 'bin/sightline-agent.js': code });

before(async () => {
  cp = await FakeControlPlane.start();
  repo = TestTufRepo.create(join(work, 'repo'));
  cp.tufDir = repo.dir;
  repo.publish([
    { version: '1.0.0', securityVersion: 1, required: true, files: entry(HEALTHY) },
    { version: '1.1.0', securityVersion: 1, required: false, files: entry(HEALTHY) },
    { version: '1.2.0', securityVersion: 1, required: true, files: entry(HANGS) },
    { version: '1.3.0', securityVersion: 1, required: true, files: entry(CRASHES) },
  ]);
  dev = await updateDevice(cp, repo, work, 'cam-l');
});
after(async () => {
  await cp.close();
  rmSync(work, { recursive: true, force: true });
});

function launcher(lines: string[] = []): Launcher {
  return new Launcher({
    slotsDir: dev.slotsDir,
    dataDir: dev.dataDir,
    tpm: new Tpm(undefined, { PATH: '/nonexistent' }),
    args: ['start', '--data-dir', dev.dataDir],
    healthTimeoutMs: 2_000,
    pollMs: 50,
    clock: systemClock,
    log: (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
  });
}

test('a release on trial that reports healthy is committed and raises the floor (required)', async () => {
  await remoteInstall(dev, '1.0.0', 'job-1');
  assert.equal(await launcher().run(), 0);
  const state = await dev.slots.readState();
  assert.equal(state.active, 'a');
  assert.equal(state.trial, undefined);
  assert.equal(state.lastCommit?.version, '1.0.0');
  assert.equal(state.lastCommit.jobId, 'job-1');
  assert.equal(await dev.records.floor(), 1);
});

test('a release that does not report healthy in time is reverted: the previous slot runs, the floor stays', async () => {
  await remoteInstall(dev, '1.2.0', 'job-2');
  const lines: string[] = [];
  assert.equal(await launcher(lines).run(), 0, lines.join('\n'));
  const state = await dev.slots.readState();
  assert.equal(state.active, 'a');
  assert.equal(state.lastRevert?.version, '1.2.0');
  assert.equal(state.lastRevert.jobId, 'job-2');
  assert.match(state.lastRevert.reason, /no health report within 2 s/);
  assert.equal(await dev.records.floor(), 1);
  assert.ok(
    lines.some((l) => l.startsWith('info starting the agent') && l.includes('"slot":"a"')),
    lines.join('\n'),
  );
});

test('a release that crashes three times is reverted', async () => {
  await remoteInstall(dev, '1.3.0', 'job-3');
  const lines: string[] = [];
  assert.equal(await launcher(lines).run(), 0, lines.join('\n'));
  const state = await dev.slots.readState();
  assert.equal(state.active, 'a');
  assert.equal(state.lastRevert?.version, '1.3.0');
  assert.match(state.lastRevert.reason, /crashed 3 times \(last exit code 1\)/);
  assert.equal(lines.filter((l) => l.startsWith('warn starting a new release on trial')).length, 3);
});

test('a trial interrupted three times (the launcher itself restarted) is reverted before a fourth start', async () => {
  await remoteInstall(dev, '1.2.0', 'job-4');
  const state = await dev.slots.readState();
  if (state.trial === undefined) throw new Error('no trial');
  await dev.slots.writeState({ ...state, trial: { ...state.trial, attempts: 3 } });
  assert.equal(await launcher().run(), 0);
  assert.match((await dev.slots.readState()).lastRevert?.reason ?? '', /started 3 times without reporting healthy/);
});

test('an active slot that fails verification is refused; the other slot starts and the reason is kept', async () => {
  await remoteInstall(dev, '1.1.0', 'job-5');
  assert.equal(await launcher().run(), 0);
  assert.equal((await dev.slots.readState()).active, 'b');
  assert.equal(await dev.records.floor(), 1, '1.1.0 is optional: the floor stays');
  writeFileSync(join(dev.slots.files('b'), 'bin/sightline-agent.js'), HANGS); // tampered after install
  const lines: string[] = [];
  assert.equal(await launcher(lines).run(), 0);
  const state = await dev.slots.readState();
  assert.equal(state.lastFallback?.from, 'b');
  assert.match(state.lastFallback.reason, /SLOT_UNVERIFIED/);
  assert.ok(lines.some((l) => l.startsWith('error the active slot does not verify')));
});

test('nothing below the floor boots, not even as a fallback: no verified slot, nothing started', async () => {
  await dev.records.raiseFloor(2, new Date());
  await assert.rejects(launcher().run(), { code: 'LAUNCH_NO_VERIFIED_SLOT', message: /below the floor 2/ });
});

test('after a full reset (no sealed slot records, floor 0) the factory agent starts and the slot state is cleared', async () => {
  const fresh = await updateDevice(cp, repo, work, 'cam-reset');
  await fresh.slots.writeState({ v: 1, active: 'b' }); // left over from before the reset
  const factory = join(work, 'factory.cjs');
  writeFileSync(factory, HEALTHY);
  const lines: string[] = [];
  const l = new Launcher({
    slotsDir: fresh.slotsDir,
    dataDir: fresh.dataDir,
    tpm: new Tpm(undefined, { PATH: '/nonexistent' }),
    args: ['start'],
    factoryEntry: factory,
    healthTimeoutMs: 2_000,
    clock: systemClock,
    log: (level, message) => lines.push(`${level} ${message}`),
  });
  assert.equal(await l.run(), 0);
  assert.ok(lines.some((x) => x.startsWith('warn no slot has a sealed record')));
  assert.deepEqual(await fresh.slots.readState(), { v: 1 });
});
