import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleTargetName } from '@sightline/core';
import type { deviceApi } from '@sightline/protocol';
import { adminEnv, runCli, runCliMany, spawnCli, type Result } from '../../cli/test/cli-process.js';
import { startTestServer } from '../../server/test/harness.js';
import { BUNDLE_ENTRY } from '../src/update/bundle.js';
import { SlotsDir, type SlotName } from '../src/update/slots.js';
import { REAL_AGENT_ENTRY, runAgentCli, startLauncher } from './helpers/launcher-process.js';
import { agentBundle } from './helpers/tuf-repo.js';

/**
 * Issue 7 through Sightline's whole path: the real control plane (harness),
 * release keys made and releases signed and published with the real CLI, a
 * device provisioned after the root exists (its archive carries `tufRoot`)
 * and registered by the real agent, which then runs under the launcher as
 * its own process. `sightline device update` drives each update.
 *
 * 1.0.0 and 1.1.0 run this checkout's agent (only the release version
 * differs); 1.2.0 crashes at start.
 */

const DEVICE = 'gate-cam';
const RELEASES = [
  { version: '1.0.0', securityVersion: 1, entry: REAL_AGENT_ENTRY },
  { version: '1.1.0', securityVersion: 2, entry: REAL_AGENT_ENTRY },
  { version: '1.2.0', securityVersion: 2, entry: 'process.exit(1);\n' },
];

interface DeviceBody {
  status?: { update?: deviceApi.UpdateStatus };
}
interface JobBody {
  job: { status: string; stage: string | null; message: string | null; history: { stage: string }[] };
}
interface AuditBody {
  events: { event: { action: string; outcome: string; errorCode: string | null; resource: string } }[];
}

const show = (r: Result | undefined): string => `${r?.stdout ?? ''}${r?.stderr ?? ''}`;

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test(
  'real control plane + CLI + launcher: N → N+1 committed with live stages; a crashing release reverted; a downgrade below the floor refused and audited',
  { timeout: 420_000 },
  async () => {
    const work = mkdtempSync(join(tmpdir(), 'sl-update-cp-'));
    const s = await startTestServer();
    const env: Record<string, string> = { ...(await adminEnv(s, join(work, 'cli'))), SIGHTLINE_RELEASE_PASSPHRASE: 'Shingle-4410-estuary-bittern' };
    const admin = await s.adminToken(); // the token adminEnv signed in for (cached)
    const slotsDir = join(work, 'slots');
    const dataDir = join(work, 'agent');
    const slots = new SlotsDir(slotsDir);
    let launcher: ReturnType<typeof startLauncher> | undefined;
    try {
      // Offline keys (root installed on the control plane), then each release signed and published in turn.
      const keys = join(work, 'keys');
      const runs: string[][] = [['release', 'keys', 'init', '--out', keys]];
      for (const r of RELEASES) {
        const file = join(work, bundleTargetName(r.version));
        writeFileSync(file, agentBundle(r.version, { [BUNDLE_ENTRY]: r.entry }));
        const signed = join(work, `signed-${r.version}`);
        runs.push(
          ['release', 'sign', file, '--keys', keys, '--release', r.version, '--security-version', String(r.securityVersion), '--required', '--out', signed],
          ['release', 'publish', signed],
        );
      }
      const results = await runCliMany(runs.map((args) => ({ args, env })));
      results.forEach((r, i) => assert.equal(r.code, 0, `sightline ${runs[i]?.join(' ')}: ${show(r)}`));

      // Provisioned after the root exists, so the archive carries it; the agent registers as its own process.
      const archive = join(work, `${DEVICE}.age`);
      const prov = await runCli(['device', 'provision', DEVICE, '--out', archive, '--json'], env);
      assert.equal(prov.code, 0, show(prov));
      const passFile = join(work, 'passphrase');
      writeFileSync(passFile, `${(JSON.parse(prov.stdout) as { passphrase: string }).passphrase}\n`, { mode: 0o600 });
      const reg = await runAgentCli(['register', '--archive', archive, '--data-dir', dataDir, '--passphrase-file', passFile, '--root-key', 'key-file']);
      assert.equal(reg.code, 0, show(reg));

      launcher = startLauncher({
        slotsDir,
        dataDir,
        healthTimeoutSeconds: 45,
        env: {
          SIGHTLINE_AGENT_POLL_WAIT_SECONDS: '2',
          SIGHTLINE_AGENT_HEARTBEAT_SECONDS: '1',
          SIGHTLINE_AGENT_BACKOFF_BASE_MS: '200',
          SIGHTLINE_AGENT_BACKOFF_MAX_MS: '1000',
        },
      });
      const l = launcher;
      const devicePath = `/api/v1/projects/default/devices/${DEVICE}`;
      /** Waits until the device's heartbeat, as the control plane stored it, reports `version` in `slot` and the floor. */
      const reported = async (version: string, slot: SlotName, floor: number): Promise<void> => {
        let u: deviceApi.UpdateStatus | undefined;
        await waitFor(
          async () => {
            u = (await s.call<DeviceBody>('GET', devicePath, undefined, admin)).body.status?.update;
            return u?.version === version && u.slot === slot && u.securityFloor === floor;
          },
          30_000,
          () => `a heartbeat with ${version} in slot ${slot}, floor ${floor}; last: ${JSON.stringify(u)}\n${l.output().slice(-3000)}`,
        );
      };
      /** Waits until the launcher's agent process runs the entry point of `slot`. */
      const runsFrom = (slot: SlotName): Promise<void> =>
        waitFor(
          () => l.agentEntry() === join(slots.files(slot), BUNDLE_ENTRY),
          30_000,
          () => `the agent to run from slot ${slot}; it runs ${String(l.agentEntry())}\n${l.output().slice(-3000)}`,
        );
      const update = (version: string): Promise<Result> => runCli(['device', 'update', DEVICE, '--release', version], env);

      // N = 1.0.0: the factory-installed agent installs it into slot a; committed.
      await waitFor(async () => (await s.call<DeviceBody>('GET', devicePath, undefined, admin)).body.status !== undefined, 30_000, () =>
        `the first heartbeat\n${l.output().slice(-3000)}`,
      );
      const first = await update('1.0.0');
      assert.equal(first.code, 0, `${show(first)}\n${l.output().slice(-3000)}`);
      await reported('1.0.0', 'a', 1);
      await runsFrom('a');

      // N → N+1: the CLI shows each stage while it happens (printed before it exits) and exits 0 on commit.
      // (health-check is shown only when the new agent asks before the launcher has committed: not asserted.)
      const cli = spawnCli(['device', 'update', DEVICE, '--release', '1.1.0'], env);
      const order = ['queued', 'downloading', 'verifying', 'installing', 'rebooting', 'committed'];
      const liveAt = new Map<string, boolean>();
      let exited = false;
      cli.child.on('exit', () => (exited = true));
      cli.child.stdout.on('data', () => {
        for (const stage of order)
          if (!liveAt.has(stage) && new RegExp(`^${DEVICE} {2}${stage}`, 'm').test(cli.output().stdout)) liveAt.set(stage, !exited);
      });
      const done = await cli.done;
      assert.equal(done.code, 0, `${show(done)}\n${l.output().slice(-3000)}`);
      const shown = done.stdout.split('\n').map((line) => new RegExp(`^${DEVICE} {2}(\\S+)`).exec(line)?.[1]);
      const at = order.map((stage) => shown.indexOf(stage));
      assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > (at[k - 1] ?? 0))), `stages ${order.join(' → ')} in order:\n${done.stdout}`);
      for (const stage of order.slice(0, -1)) assert.equal(liveAt.get(stage), true, `${stage} was shown while the job ran`);
      assert.match(done.stdout, /committed {2}committed 1\.1\.0 \(anti-rollback floor 2\)/);
      const updateJobs = async (): Promise<string[]> =>
        (await s.call<{ jobs: { id: string; kind: string }[] }>('GET', `${devicePath}/jobs`, undefined, admin)).body.jobs.filter((j) => j.kind === 'update').map((j) => j.id);
      const jobId = (await updateJobs())[0] ?? '';
      const job = (await s.call<JobBody>('GET', `${devicePath}/jobs/${jobId}`, undefined, admin)).body.job;
      assert.deepEqual([job.status, job.stage], ['succeeded', 'committed']);
      await reported('1.1.0', 'b', 2);
      await runsFrom('b');
      assert.equal((await slots.readState()).active, 'b');

      // 1.2.0 crashes on every start: after three the launcher is back on 1.1.0, the job failed with the reason.
      const bad = await update('1.2.0');
      assert.equal(bad.code, 11, show(bad));
      assert.match(bad.stdout, new RegExp(`${DEVICE} {2}reverted {2}reverted: the agent crashed 3 times`));
      assert.match(bad.stderr, /UPDATE_FAILED/);
      const badJob = (await s.call<JobBody>('GET', `${devicePath}/jobs/${(await updateJobs())[0] ?? ''}`, undefined, admin)).body.job;
      assert.deepEqual([badJob.status, badJob.stage], ['failed', 'reverted']);
      assert.match(badJob.message ?? '', /^reverted: the agent crashed 3 times/);
      const state = await slots.readState();
      assert.equal(state.active, 'b');
      assert.equal(state.lastRevert?.version, '1.2.0');
      await runsFrom('b');
      await reported('1.1.0', 'b', 2);

      // 1.0.0 is validly signed but below the floor 2: refused, nothing queued, the refusal audited.
      const down = await update('1.0.0');
      assert.equal(down.code, 6, show(down));
      assert.match(down.stderr, /UPDATE_BELOW_FLOOR/);
      assert.equal((await updateJobs()).length, 3, 'no job was queued for the refused downgrade');
      const audit = await s.call<AuditBody>('GET', '/api/v1/audit/events?action=device:UpdateSoftware&outcome=failed&limit=100', undefined, admin);
      assert.equal(audit.status, 200, JSON.stringify(audit.body));
      const refusals = audit.body.events.filter((e) => e.event.errorCode === 'UPDATE_BELOW_FLOOR' && e.event.resource.endsWith(`device/${DEVICE}`));
      assert.equal(refusals.length, 1, JSON.stringify(audit.body));
      await runsFrom('b');
    } finally {
      await launcher?.stop();
      await s.close();
      rmSync(work, { recursive: true, force: true });
    }
  },
);
