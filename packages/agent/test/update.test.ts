import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleTargetName } from '@sightline/core';
import { run, EXIT } from '../src/cli/program.js';
import type { Fetcher } from '../src/client/fetcher.js';
import { systemClock } from '../src/clock.js';
import { AgentLogger } from '../src/logs/logger.js';
import { UpdateJobs } from '../src/update/jobs.js';
import { verifySlot } from '../src/launcher/verify.js';
import { UpdateError } from '../src/update/errors.js';
import type { UpdateProgress } from '../src/update/updater.js';
import { FakeControlPlane } from './helpers/fake-control-plane.js';
import { TestTufRepo, remoteInstall, stateSnapshot, updateDevice, type UpdateDevice } from './helpers/tuf-repo.js';

/**
 * The attacks of issue 7 against the agent's update path, over real mTLS to
 * a control plane serving a real TUF repository (built with @tufjs/models,
 * verified by tuf-js). Each refusal carries its code, and the device's
 * Sightline state (floor, slots, sealed records) is byte for byte unchanged.
 */

const work = mkdtempSync(join(tmpdir(), 'sl-update-'));
let cp: FakeControlPlane;
let n = 0;

before(async () => {
  cp = await FakeControlPlane.start();
});
after(async () => {
  await cp.close();
  rmSync(work, { recursive: true, force: true });
});

async function setup(o: { targetsThreshold?: number } = {}): Promise<{ repo: TestTufRepo; dev: UpdateDevice }> {
  const repo = TestTufRepo.create(join(work, `repo-${++n}`), o);
  cp.tufDir = repo.dir; // one repository at a time: tests in this file run one after another
  const dev = await updateDevice(cp, repo, work, `cam-${n}`);
  return { repo, dev };
}

/** Runs a remote install that must be refused with `code`, and checks that nothing of the device's state changed. */
async function refused(dev: UpdateDevice, version: string, code: string): Promise<UpdateError> {
  const before = stateSnapshot(dev);
  const floor = await dev.records.floor();
  const err = await remoteInstall(dev, version).then(
    () => assert.fail(`installing ${version} should be refused with ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UpdateError, String(err));
  assert.equal(err.code, code, err.message);
  // tough CVE-2025-2888: no Sightline state is written by a refused update.
  assert.deepEqual(stateSnapshot(dev), before);
  assert.equal(await dev.records.floor(), floor);
  return err;
}

const release = (version: string, securityVersion = 1, required = true) => ({ version, securityVersion, required });

test('a valid release installs into slot a on trial, with its progress reported and its metadata kept', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0')]);
  const seen: UpdateProgress[] = [];
  const fetcher = dev.fetcher();
  const updater = dev.updater({ onProgress: (p) => seen.push(p) });
  const installed = await updater.install(await updater.prepareRemote('1.1.0', fetcher), 'job-1');
  fetcher.close();
  assert.deepEqual(installed, { slot: 'a', version: '1.1.0' });
  assert.deepEqual([...new Set(seen.map((p) => p.stage))], ['downloading', 'verifying', 'installing']);
  const total = repo.bundles.get('1.1.0')?.length;
  assert.ok(seen.some((p) => p.stage === 'downloading' && p.bytesDone === total && p.bytesTotal === total));
  const state = await dev.slots.readState();
  assert.equal(state.trial?.slot, 'a');
  assert.equal(state.trial.jobId, 'job-1');
  assert.equal(state.active, undefined);
  assert.equal(await dev.records.floor(), 0, 'the floor rises on commit only');
  const verified = await verifySlot(dev.slots, dev.records, 'a', 0);
  assert.equal(verified.version, '1.1.0');
  // The launcher's check fails once a file in the slot changes.
  writeFileSync(join(dev.slots.files('a'), 'bin/sightline-agent.js'), 'console.log("evil")\n');
  await assert.rejects(verifySlot(dev.slots, dev.records, 'a', 0), { code: 'SLOT_UNVERIFIED' });
});

test('freeze attack: an expired timestamp is refused (UPDATE_METADATA_EXPIRED)', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0')], { timestampExpires: TestTufRepo.past() });
  await refused(dev, '1.1.0', 'UPDATE_METADATA_EXPIRED');
});

test('rollback attack: a timestamp older than the one already trusted is refused (UPDATE_METADATA_ROLLBACK)', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0')]);
  const oldTimestamp = readFileSync(join(repo.dir, 'metadata/timestamp.json'));
  repo.publish([release('1.2.0')]);
  await remoteInstall(dev, '1.1.0'); // the device now trusts timestamp version 2
  await dev.slots.writeState({ v: 1, active: 'a' }); // as if committed
  writeFileSync(join(repo.dir, 'metadata/timestamp.json'), oldTimestamp);
  await refused(dev, '1.2.0', 'UPDATE_METADATA_ROLLBACK');
});

test('a target whose hash or length differs from its metadata is refused (UPDATE_TARGET_MISMATCH)', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0'), release('1.2.0')]);
  const file = repo.targetFile('1.1.0');
  const bytes = readFileSync(file);
  bytes[bytes.length - 2000] = (bytes[bytes.length - 2000] ?? 0) ^ 0xff; // same length, other bytes
  writeFileSync(file, bytes);
  await refused(dev, '1.1.0', 'UPDATE_TARGET_MISMATCH');
  writeFileSync(repo.targetFile('1.2.0'), readFileSync(repo.targetFile('1.2.0')).subarray(0, 1000)); // shorter
  await refused(dev, '1.2.0', 'UPDATE_TARGET_MISMATCH');
});

test('endless-data attack: a target longer than declared stops at the declared length (UPDATE_TARGET_TOO_LONG)', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0'), release('1.2.0')]);
  // Declared too long by Content-Length: refused before a byte is read.
  const file = repo.targetFile('1.1.0');
  writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(4096)]));
  await refused(dev, '1.1.0', 'UPDATE_TARGET_TOO_LONG');
  // No length at all, bytes without end: the agent stops reading at the declared length.
  const name = bundleTargetName('1.2.0');
  const target = repo.targets?.signed.targets[name];
  cp.tufEndless.add(`${target?.hashes.sha256 ?? ''}.${name}`);
  const err = await refused(dev, '1.2.0', 'UPDATE_TARGET_TOO_LONG');
  assert.match(err.message, /stopped/);
  // The server only writes until the agent drops the connection (socket buffers aside): far from its 1 GiB.
  assert.ok(cp.tufEndlessBytesSent < 64 * 1024 * 1024, `sent ${cp.tufEndlessBytesSent}`);
  cp.tufEndless.clear();
});

test('a signature by a key the root does not list is refused (UPDATE_SIGNATURE_INVALID)', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0')], { timestampSigners: [TestTufRepo.signer()] });
  await refused(dev, '1.1.0', 'UPDATE_SIGNATURE_INVALID');
  repo.publish([release('1.2.0')], { targetsSigners: [TestTufRepo.signer()] });
  await refused(dev, '1.2.0', 'UPDATE_SIGNATURE_INVALID');
});

test('targets signed below the threshold are refused (UPDATE_SIGNATURE_INVALID)', async () => {
  const { repo, dev } = await setup({ targetsThreshold: 2 });
  repo.publish([release('1.1.0')], { targetsSigners: repo.keys.targets.slice(0, 1) });
  const err = await refused(dev, '1.1.0', 'UPDATE_SIGNATURE_INVALID');
  assert.match(err.message, /1\/2/);
  // With both keys it installs: the threshold, not the keys, was the problem.
  repo.publish([release('1.2.0')]);
  assert.equal((await remoteInstall(dev, '1.2.0')).version, '1.2.0');
});

test('mix-and-match: targets that disagree with the snapshot are refused (UPDATE_METADATA_MISMATCH)', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0')]);
  const v1 = readFileSync(join(repo.dir, 'metadata/1.targets.json'));
  repo.publish([release('1.2.0')]);
  writeFileSync(join(repo.dir, 'metadata/2.targets.json'), v1); // validly signed, but version 1 where the snapshot says 2
  await refused(dev, '1.1.0', 'UPDATE_METADATA_MISMATCH');
});

test('a validly signed release below the anti-rollback floor is refused (UPDATE_BELOW_FLOOR), and so is an unknown one', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0', 2), release('1.2.0', 5)]);
  await dev.records.raiseFloor(3, new Date());
  const err = await refused(dev, '1.1.0', 'UPDATE_BELOW_FLOOR');
  assert.deepEqual(err.details, { version: '1.1.0', securityVersion: 2, floor: 3 });
  await refused(dev, '9.9.9', 'UPDATE_TARGET_NOT_FOUND');
  assert.equal(await dev.records.raiseFloor(1, new Date()), 3, 'the floor never goes down');
  assert.equal((await remoteInstall(dev, '1.2.0')).slot, 'a');
});

test('a release that needs a newer agent is refused (UPDATE_AGENT_TOO_OLD)', async () => {
  const { repo, dev } = await setup();
  repo.publish([{ ...release('2.0.0'), minAgentVersion: '1.5.0' }]);
  await refused(dev, '2.0.0', 'UPDATE_AGENT_TOO_OLD');
});

test('local install (sightline-agent update --bundle): same checks against the stored metadata, floor included', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.0.5', 1), release('1.1.0', 3), release('1.2.0', 3)]);
  await remoteInstall(dev, '1.1.0'); // fetches and keeps the signed metadata
  await dev.slots.writeState({ v: 1, active: 'a' });
  await dev.records.raiseFloor(3, new Date());
  const cli = async (file: string): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await run(['update', '--bundle', file, '--slots', dev.slotsDir, '--data-dir', dev.dataDir, '--json'], {
      out: (t) => (out += t),
      err: (t) => (err += t),
      env: { PATH: '/nonexistent' },
    });
    return { code, out, err };
  };
  const old = join(work, 'old.tar');
  writeFileSync(old, repo.bundles.get('1.0.5') ?? Buffer.alloc(0));
  const before = stateSnapshot(dev);
  const low = await cli(old);
  assert.equal(low.code, EXIT.UPDATE);
  assert.match(low.err, /^error UPDATE_BELOW_FLOOR: /);
  // An unsigned bundle (not in the targets) is refused too.
  const unsigned = join(work, 'unsigned.tar');
  writeFileSync(unsigned, repo.bundle('1.3.0'));
  const unknown = await cli(unsigned);
  assert.match(unknown.err, /^error UPDATE_BUNDLE_UNKNOWN: /);
  assert.deepEqual(stateSnapshot(dev), before);
  // A signed one at the floor installs into the inactive slot, on trial.
  const good = join(work, 'good.tar');
  copyFileSync(repo.targetFile('1.2.0'), good);
  const ok = await cli(good);
  assert.equal(ok.code, EXIT.OK, ok.err);
  assert.deepEqual(JSON.parse(ok.out), { installed: '1.2.0', slot: 'b', trial: true });
});

test('the stored trusted root is the only root: a second, different root is refused', async () => {
  const { dev } = await setup();
  const other = TestTufRepo.create(join(work, 'other-repo'));
  const { installTrustedRoot } = await import('../src/update/updater.js');
  await assert.rejects(installTrustedRoot(dev.store, other.rootBytes), { code: 'UPDATE_ROOT_INVALID' });
  await assert.rejects(installTrustedRoot(dev.store, Buffer.from('{"signed":{}}')), { code: 'UPDATE_ROOT_INVALID' });
});

test('root rotation: a chained root is followed (new timestamp key); a root not signed by the trusted root keys is refused', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0')]);
  const newTimestamp = TestTufRepo.signer();
  repo.rotateRoot({ timestamp: [newTimestamp.key] });
  repo.keys.timestamp = [newTimestamp];
  repo.resign();
  assert.equal((await remoteInstall(dev, '1.1.0')).version, '1.1.0');
  await dev.slots.writeState({ v: 1, active: 'a' });
  // A third root signed only by a key the device never trusted: refused, and the device keeps its state.
  const intruder = TestTufRepo.signer();
  repo.rotateRoot({ root: [intruder.key] }, [intruder]);
  repo.publish([release('1.2.0')]);
  await refused(dev, '1.2.0', 'UPDATE_SIGNATURE_INVALID');
});

test('update jobs: stages reported in order; not under the launcher the job fails with its code; a revert is reported with its reason', async () => {
  const { repo, dev } = await setup();
  repo.publish([release('1.1.0')]);
  const posts: { path: string; body: Record<string, unknown> }[] = [];
  // Reports are recorded here; TUF files still come over real mTLS from the fake control plane.
  const openFetcher = (): Fetcher => {
    const real = dev.fetcher();
    return {
      request: (req) => {
        if (req.method === 'POST') {
          posts.push({ path: req.path, body: req.body as Record<string, unknown> });
          return Promise.resolve({ status: 204, headers: {}, body: Buffer.alloc(0) });
        }
        return real.request(req);
      },
      close: () => real.close(),
    };
  };
  const jobs = (slotsDir: string | undefined): UpdateJobs =>
    new UpdateJobs({
      store: dev.store,
      slotsDir,
      openFetcher,
      agentVersion: '1.0.0',
      clock: systemClock,
      logger: new AgentLogger({ clock: systemClock, sink: () => undefined }),
      settleTimeoutMs: 200,
    });
  assert.equal(await jobs(undefined).start('j0', '1.1.0'), 'continue');
  assert.deepEqual(
    posts.map((p) => p.body.status),
    ['running', 'failed'],
  );
  assert.match(String(posts[1]?.body.message), /^UPDATE_NO_LAUNCHER: /);
  posts.length = 0;

  const withSlots = jobs(dev.slotsDir);
  assert.equal(await withSlots.start('j1', '1.1.0'), 'restart');
  const stages = posts.filter((p) => p.body.stage !== undefined && p.body.bytesDone === undefined).map((p) => p.body.stage);
  assert.deepEqual(stages, ['downloading', 'verifying', 'installing', 'rebooting']);
  assert.deepEqual(await withSlots.view(), { jobId: 'j1', phase: 'installed', reported: false });
  // Still on trial: health-check is reported and the job stays open.
  posts.length = 0;
  await withSlots.finish('j1');
  assert.deepEqual(
    posts.map((p) => p.body),
    [{ status: 'running', stage: 'health-check' }],
  );
  // The launcher reverted it: the job fails with the reason, once.
  const state = await dev.slots.readState();
  await dev.slots.writeState({
    v: 1,
    lastRevert: { version: '1.1.0', reason: 'no health report within 120 s', at: state.trial?.since ?? '', jobId: 'j1' },
  });
  posts.length = 0;
  await withSlots.finish('j1');
  await withSlots.finish('j1');
  assert.deepEqual(
    posts.map((p) => p.body),
    [{ status: 'failed', message: 'reverted: no health report within 120 s' }],
  );
  assert.deepEqual(await withSlots.view(), { jobId: 'j1', phase: 'done', reported: true });
});
