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
import { Agent } from '../src/run/agent.js';
import { layout } from '../src/storage/data-dir.js';
import { RootKeyManager } from '../src/storage/root-key.js';
import { EncryptedStore } from '../src/storage/store.js';
import { Tpm } from '../src/storage/tpm.js';
import { privacyBlurApp, privacyBlurPackages } from './helpers/app-packages.js';
import { sealArchive } from './helpers/archive.js';
import { FakeControlPlane, waitFor } from './helpers/fake-control-plane.js';

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

test('the agent deploys the desired apps in its sandbox, reports isolation in the heartbeat, and removes them', async () => {
  const device = 'gate-1';
  const archive = join(tmp, 'a.age');
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
  const lines: string[] = [];
  const agent = await Agent.open(
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
