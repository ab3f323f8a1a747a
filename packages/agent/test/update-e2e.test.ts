import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleTargetName } from '@sightline/core';
import { FakeControlPlane, waitFor } from './helpers/fake-control-plane.js';
import { REAL_AGENT_ENTRY as REAL, startLauncher } from './helpers/launcher-process.js';
import { TestTufRepo, updateDevice } from './helpers/tuf-repo.js';

/**
 * End to end (issue 7): the launcher as its own process (as the systemd unit
 * runs it), the real agent in the slots, update jobs from a control plane
 * over mTLS. The releases 1.0.0 and 1.1.0 are the real agent code (their
 * entry point imports this checkout's agent; only the release version
 * differs); 1.2.0 crashes at start and 1.3.0 never reports healthy.
 */

test(
  'update N → N+1 committed; a release that crashes or never reports healthy is reverted and its job failed with the reason',
  { timeout: 300_000 },
  async () => {
    const work = mkdtempSync(join(tmpdir(), 'sl-update-e2e-'));
    const cp = await FakeControlPlane.start();
    const repo = TestTufRepo.create(join(work, 'repo'));
    cp.tufDir = repo.dir;
    repo.publish([
      { version: '1.0.0', securityVersion: 1, required: true, files: { 'bin/sightline-agent.js': REAL } },
      { version: '1.1.0', securityVersion: 2, required: true, files: { 'bin/sightline-agent.js': REAL } },
      { version: '1.2.0', securityVersion: 2, required: true, files: { 'bin/sightline-agent.js': 'process.exit(1);\n' } },
      {
        version: '1.3.0',
        securityVersion: 2,
        required: true,
        files: { 'bin/sightline-agent.js': 'setInterval(() => undefined, 1000);\n' },
      },
    ]);
    const dev = await updateDevice(cp, repo, work, 'cam-e2e');
    const launcher = startLauncher({
      slotsDir: dev.slotsDir,
      dataDir: dev.dataDir,
      healthTimeoutSeconds: 30,
      env: { SIGHTLINE_AGENT_POLL_WAIT_SECONDS: '2', SIGHTLINE_AGENT_HEARTBEAT_SECONDS: '3600', SIGHTLINE_AGENT_BACKOFF_BASE_MS: '200' },
    });
    const job = (id: string, version: string) => ({
      id,
      kind: 'update' as const,
      createdAt: new Date().toISOString(),
      params: { version, target: bundleTargetName(version) },
    });
    const final = async (id: string): Promise<Record<string, unknown>> => {
      await waitFor(
        () => cp.jobUpdates.some((u) => u.id === id && u.body.status !== 'running'),
        120_000,
        `job ${id} to end\n${launcher.output().slice(-4000)}`,
      );
      return cp.jobUpdates.find((u) => u.id === id && u.body.status !== 'running')?.body ?? {};
    };
    try {
      // The factory agent installs 1.0.0 into slot a; the launcher boots it on trial; it reports healthy; committed.
      cp.setJobs(dev.name, [job('u1', '1.0.0')]);
      const u1 = await final('u1');
      assert.equal(u1.status, 'succeeded', JSON.stringify(u1));
      assert.match(String(u1.message), /committed 1\.0\.0 \(anti-rollback floor 1\)/);
      const stages = cp.jobUpdates.filter((u) => u.id === 'u1' && u.body.status === 'running').map((u) => u.body.stage);
      for (const s of ['downloading', 'verifying', 'installing', 'rebooting']) assert.ok(stages.includes(s), `${s} in ${stages.join(',')}`);
      assert.ok(cp.jobUpdates.some((u) => u.id === 'u1' && typeof u.body.bytesTotal === 'number'));

      // N → N+1: 1.1.0 into slot b, committed, floor 2.
      cp.setJobs(dev.name, [job('u2', '1.1.0')]);
      const u2 = await final('u2');
      assert.equal(u2.status, 'succeeded', JSON.stringify(u2));
      let state = await dev.slots.readState();
      assert.equal(state.active, 'b');
      assert.equal(await dev.records.floor(), 2);

      // 1.2.0 crashes three times: back on 1.1.0, the job failed with the reason.
      cp.setJobs(dev.name, [job('u3', '1.2.0')]);
      const u3 = await final('u3');
      assert.equal(u3.status, 'failed');
      assert.match(String(u3.message), /^reverted: the agent crashed 3 times/);
      state = await dev.slots.readState();
      assert.equal(state.active, 'b');

      // 1.3.0 never reports healthy: back on 1.1.0 after the deadline.
      cp.setJobs(dev.name, [job('u4', '1.3.0')]);
      const u4 = await final('u4');
      assert.equal(u4.status, 'failed');
      assert.match(String(u4.message), /^reverted: no health report within 30 s/);
      state = await dev.slots.readState();
      assert.equal(state.active, 'b');
      assert.equal(await dev.records.floor(), 2);
      // The agent running now is 1.1.0's, online again (it reported u4).
    } finally {
      await launcher.stop();
      await cp.close();
      rmSync(work, { recursive: true, force: true });
    }
  },
);
