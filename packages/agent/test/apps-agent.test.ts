import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePackageSigningKey, loadPackageSigningKey } from '@sightline/core';
import { appsApi } from '@sightline/protocol';
import { systemClock } from '../src/clock.js';
import { ControlPlaneFetcher } from '../src/client/control-plane-fetcher.js';
import { register } from '../src/identity/register.js';
import { IntegrityMonitor } from '../src/integrity/monitor.js';
import { AgentLogger } from '../src/logs/logger.js';
import { readLocalAccess } from '../src/output/access.js';
import { run as runAgentCli } from '../src/cli/program.js';
import { Agent } from '../src/run/agent.js';
import { layout } from '../src/storage/data-dir.js';
import { RootKeyManager } from '../src/storage/root-key.js';
import { EncryptedStore } from '../src/storage/store.js';
import { Tpm } from '../src/storage/tpm.js';
import { privacyBlurApp, privacyBlurPackages } from './helpers/app-packages.js';
import { sealArchive } from './helpers/archive.js';
import { FakeControlPlane, waitFor } from './helpers/fake-control-plane.js';
import { getLocal } from './helpers/local-output.js';

/**
 * The whole agent with apps: the desired state's `apps` deployed in the
 * sandbox this appliance allows, progress reported, the isolation layers in
 * the heartbeat, the local output token sealed in the store.
 */

const tmp = mkdtempSync(join(tmpdir(), 'sl-apps-agent-'));
chmodSync(tmp, 0o711); // the sandboxed app's own uid passes through to its folders below
const noTpm = new Tpm(undefined, { PATH: '/nonexistent' });
let cp: FakeControlPlane;

before(async () => {
  cp = await FakeControlPlane.start();
});
after(async () => {
  await cp.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A registered device's data folder (key-file root key, no TPM). */
async function registeredDevice(device: string): Promise<string> {
  const archive = join(tmp, `${device}.age`);
  writeFileSync(archive, await sealArchive(await cp.provision(device), 'pass-phrase-for-test'));
  const dataDir = join(tmp, device);
  await register({
    dataDir,
    archivePath: archive,
    passphrase: 'pass-phrase-for-test',
    rootKeyMode: 'key-file',
    tpm: noTpm,
    fetcherFactory: (id) => new ControlPlaneFetcher(id),
    now: () => new Date(),
  });
  return dataDir;
}

/** An agent on `dataDir` whose log lines go to `lines`; its local output server on a free port of 127.0.0.1. */
function openAgent(dataDir: string, lines: string[]): Promise<Agent> {
  return Agent.open(
    {
      dataDir,
      heartbeatIntervalMs: 200,
      pollWaitSeconds: 1,
      integrityIntervalMs: 60_000,
      spoolQuotaBytes: 1024 * 1024,
      backoff: { baseMs: 40, maxMs: 320 },
      logIdleMs: 100,
      apps: { runRoot: join(tmp, 'run'), local: { port: 0, host: '127.0.0.1' } },
    },
    {
      clock: systemClock,
      random: () => 0.5,
      runtime: { reboot: () => Promise.resolve(), shutdown: () => Promise.resolve(), bootId: () => 'b' },
      tpm: noTpm,
      fetcherFactory: (id) => new ControlPlaneFetcher(id),
      integrity: new IntegrityMonitor({ root: mkdtempSync(join(tmp, 'root-')), trustedKeys: [], clock: systemClock, intervalMs: 60_000 }),
      logger: new AgentLogger({ clock: systemClock, sink: (l) => lines.push(l) }),
    },
  );
}

test('the agent deploys the desired apps in its sandbox, reports isolation in the heartbeat, and removes them', async () => {
  const device = 'gate-1';
  const dataDir = await registeredDevice(device);
  const lines: string[] = [];
  const agent = await openAgent(dataDir, lines);
  const done = agent.run();
  try {
    const signer = generatePackageSigningKey();
    const pkgs = await privacyBlurPackages(cp, loadPackageSigningKey(signer.privateKeyPem), join(tmp, 'build'));
    cp.setApps(device, [privacyBlurApp({ instanceId: 'inst-a', revision: 1, code: pkgs.code, model: pkgs.model })]);
    const last = (): appsApi.AppStatusReport | undefined => cp.appStatus.filter((r) => r.instanceId === 'inst-a').at(-1)?.body;
    await waitFor(() => ['running', 'failed'].includes(last()?.stage ?? ''), 120_000, 'the deployment');
    assert.equal(last()?.stage, 'running', `${last()?.code ?? ''} ${last()?.message ?? ''}\n${lines.slice(-20).join('\n')}`);
    await waitFor(
      () => cp.heartbeats.some((h) => h.device === device && h.body.isolation !== undefined),
      10_000,
      'isolation in a heartbeat',
    );
    const hb = cp.heartbeats.filter((h) => h.device === device && h.body.isolation !== undefined).at(-1);
    assert.ok(appsApi.isolationReport.safeParse(hb?.body.isolation).success);
    assert.equal((hb?.body.isolation as appsApi.IsolationReport).permissionModel.present, true);
    cp.setApps(device, []);
    await waitFor(() => last()?.stage === 'stopped', 30_000, 'the removal');
  } finally {
    agent.stop();
    await done;
  }
  const root = await new RootKeyManager(dataDir, noTpm).load();
  const local = await readLocalAccess(new EncryptedStore(layout(dataDir).store, root.key));
  assert.match(local?.token ?? '', /^[A-Za-z0-9_-]{43}$/, 'a local output token, sealed in the store');
});

test('apps keep running through an outage: restarted without the control plane, the agent runs the last desired apps; when it returns nothing is redeployed', async () => {
  const device = 'gate-2';
  const dataDir = await registeredDevice(device);
  const signer = generatePackageSigningKey();
  const pkgs = await privacyBlurPackages(cp, loadPackageSigningKey(signer.privateKeyPem), join(tmp, 'build-2'));
  cp.setApps(device, [privacyBlurApp({ instanceId: 'inst-b', revision: 1, code: pkgs.code, model: pkgs.model })]);
  const reports = (): appsApi.AppStatusReport[] => cp.appStatus.filter((r) => r.instanceId === 'inst-b').map((r) => r.body);

  // First run, online: deployed and running; then the agent stops (its apps with it).
  const first: string[] = [];
  const agent = await openAgent(dataDir, first);
  const done = agent.run();
  try {
    await waitFor(() => ['running', 'failed'].includes(reports().at(-1)?.stage ?? ''), 120_000, 'the deployment');
    assert.equal(reports().at(-1)?.stage, 'running');
  } finally {
    agent.stop();
    await done;
  }

  // The control plane goes away, and the agent starts again (a reboot during an outage).
  await cp.stop();
  const lines: string[] = [];
  const again = await openAgent(dataDir, lines);
  const running = again.run();
  try {
    await waitFor(
      () => lines.some((l) => l.includes('app running') && l.includes('inst-b')),
      120_000,
      'the app running without the control plane',
    );
    assert.ok(lines.some((l) => l.includes('starting the apps of the last desired state')));
    // An on-site person sees it with sightline-agent status: the agent running, offline, and its app running.
    const status = async (json: boolean): Promise<string> => {
      let out = '';
      const code = await runAgentCli(['status', '--data-dir', dataDir, ...(json ? ['--json'] : [])], {
        out: (t) => (out += t),
        err: () => undefined,
        env: { PATH: process.env['PATH'] ?? '' },
      });
      assert.equal(code, 0);
      return out;
    };
    const shown = async (): Promise<boolean> => {
      const st = JSON.parse(await status(true)) as { apps?: { instanceId: string; stage: string }[]; agent: { online?: boolean } };
      return st.agent.online === false && st.apps?.some((a) => a.instanceId === 'inst-b' && a.stage === 'running') === true;
    };
    const until = Date.now() + 10_000;
    while (!(await shown())) {
      assert.ok(Date.now() < until, 'the running app in sightline-agent status');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(await status(false), /^Apps: +privacy-blur-door \(inst-b, revision 1\): running$/m);
    // Its blurred output is served locally all the same.
    const port = Number(
      /local output server listening.*port=(\d+)/.exec(lines.find((l) => l.includes('local output server listening')) ?? '')?.[1],
    );
    const root = await new RootKeyManager(dataDir, noTpm).load();
    const local = await readLocalAccess(new EncryptedStore(layout(dataDir).store, root.key));
    const stream = await getLocal(port, '/apps/inst-b/outputs/out.mjpeg', { authorization: `Bearer ${local?.token ?? ''}` });
    assert.equal(stream.status, 200);
    assert.ok(stream.body.toString('latin1').split('--sightline-frame\r\n').length >= 3, 'frames flow while the control plane is away');

    // The control plane returns with the same desired state: the instance is reported running, not deployed again.
    const seen = reports().length;
    await cp.restart();
    await waitFor(
      () =>
        reports()
          .slice(seen)
          .some((r) => r.stage === 'running'),
      30_000,
      'running reported once the control plane is back',
    );
    await waitFor(() => cp.heartbeats.filter((h) => h.device === device).length > 2, 10_000, 'heartbeats again');
    assert.equal(lines.filter((l) => l.includes('deploying app')).length, 1, 'deployed once, from the sealed copy, and not again');
  } finally {
    again.stop();
    await running;
    if (!cp.listening) await cp.restart();
  }
});
