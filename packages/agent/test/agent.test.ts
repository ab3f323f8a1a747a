import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../src/clock.js';
import type { Heartbeat } from '../src/client/device-client.js';
import { ControlPlaneFetcher } from '../src/client/control-plane-fetcher.js';
import { AgentError } from '../src/errors.js';
import { keyPem } from '../src/identity/keys.js';
import { register } from '../src/identity/register.js';
import { MANIFEST_FILE, buildManifest, signManifest } from '../src/integrity/manifest.js';
import { IntegrityMonitor } from '../src/integrity/monitor.js';
import { AgentLogger } from '../src/logs/logger.js';
import type { Runtime } from '../src/reconcile/runtime.js';
import { Agent, type AgentConfig, type AgentExit } from '../src/run/agent.js';
import { layout } from '../src/storage/data-dir.js';
import { RECORD, agentState, agentStatus, identityRecord } from '../src/storage/records.js';
import { RootKeyManager } from '../src/storage/root-key.js';
import { EncryptedStore } from '../src/storage/store.js';
import { Tpm } from '../src/storage/tpm.js';
import { sealArchive } from './helpers/archive.js';
import { FakeControlPlane, waitFor } from './helpers/fake-control-plane.js';
import { grepDir, pemBodyPieces } from './helpers/grep.js';

/**
 * The agent core against a control plane over real mTLS: heartbeats, log
 * shipping, jobs, an outage and the return, revocation, renewal, integrity.
 */

const PASS = 'amber-quartz-lantern-nine';
const tmp = mkdtempSync(join(tmpdir(), 'sl-agent-'));
const noTpm = new Tpm(undefined, { PATH: '/nonexistent' });
const devRoot = mkdtempSync(join(tmpdir(), 'sl-agent-root-')); // an installed agent with no manifest: unchecked
let cp: FakeControlPlane;
const started: Agent[] = [];

before(async () => {
  cp = await FakeControlPlane.start();
});
after(async () => {
  for (const a of started) a.stop(); // a failed assertion must not leave loops running
  await cp.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function registered(device: string): Promise<string> {
  const archive = join(tmp, `${device}.age`);
  writeFileSync(archive, await sealArchive(await cp.provision(device), PASS));
  const dataDir = join(tmp, device);
  await register({
    dataDir,
    archivePath: archive,
    passphrase: PASS,
    rootKeyMode: 'key-file',
    tpm: noTpm,
    fetcherFactory: (id) => new ControlPlaneFetcher(id),
    now: () => new Date(),
  });
  return dataDir;
}

interface Running {
  agent: Agent;
  done: Promise<AgentExit>;
  lines: string[];
  sleeps: number[];
  runtime: Runtime & { calls: string[] };
  logger: AgentLogger;
}

async function start(
  dataDir: string,
  o: { bootId?: string; integrity?: IntegrityMonitor; config?: Partial<AgentConfig> } = {},
): Promise<Running> {
  const sleeps: number[] = [];
  const clock: Clock = { now: () => Date.now(), sleep: (ms, signal) => (sleeps.push(ms), systemClock.sleep(ms, signal)) };
  const lines: string[] = [];
  // AGENT_TEST_LOG=FILE keeps every agent's log lines for debugging a failure.
  const logFile = process.env.AGENT_TEST_LOG;
  const logger = new AgentLogger({
    clock,
    sink: (l) => (lines.push(l), logFile === undefined ? undefined : appendFileSync(logFile, `${l}\n`)),
  });
  const calls: string[] = [];
  const runtime = {
    calls,
    reboot: () => (calls.push('reboot'), Promise.resolve()),
    shutdown: () => (calls.push('shutdown'), Promise.resolve()),
    bootId: () => o.bootId ?? 'boot-1',
  };
  const config: AgentConfig = {
    dataDir,
    heartbeatIntervalMs: 100,
    pollWaitSeconds: 1,
    integrityIntervalMs: 50,
    spoolQuotaBytes: 1024 * 1024,
    backoff: { baseMs: 40, maxMs: 320 },
    logIdleMs: 50,
    ...o.config,
  };
  const integrity = o.integrity ?? new IntegrityMonitor({ root: devRoot, trustedKeys: [], clock, intervalMs: 50 });
  const agent = await Agent.open(config, {
    clock,
    random: () => 0.5,
    runtime,
    tpm: noTpm,
    fetcherFactory: (id) => new ControlPlaneFetcher(id),
    integrity,
    logger,
  });
  started.push(agent);
  return { agent, done: agent.run(), lines, sleeps, runtime, logger };
}

const heartbeatsOf = (device: string) => cp.heartbeats.filter((h) => h.device === device);
const logMessagesOf = (device: string): string[] =>
  cp.logs.filter((l) => l.device === device).flatMap((l) => (l.body.events as { message: string }[]).map((e) => e.message));

async function readStore(dataDir: string): Promise<EncryptedStore> {
  const root = await new RootKeyManager(dataDir, noTpm).load();
  return new EncryptedStore(layout(dataDir).store, root.key);
}

test('online: heartbeats report status, the log reaches the device log group, all over ONE mTLS connection (HTTP/2 streams beside the long-poll)', async () => {
  const dataDir = await registered('agent-a');
  const connectionsBefore = cp.connections;
  const r = await start(dataDir);
  await waitFor(() => heartbeatsOf('agent-a').length >= 4, 10_000, 'heartbeats');
  await waitFor(() => logMessagesOf('agent-a').some((m) => m.startsWith('agent started')), 10_000, 'agent log shipped');
  const hb = heartbeatsOf('agent-a').at(-1)!.body as unknown as Heartbeat;
  assert.equal(hb.agentVersion, '0.1.0');
  assert.equal(hb.rootKeyProtection, 'key-file');
  assert.equal(hb.integrity.state, 'unchecked');
  assert.match(hb.integrity.detail ?? '', /NOT verified/);
  assert.ok(hb.memory.totalBytes > 0 && hb.cpu.cores >= 1 && hb.disk.totalBytes > 0);
  assert.equal(hb.appliedStateEtag, cp.deviceRecord('agent-a')!.desired.etag);
  assert.equal(cp.connections - connectionsBefore, 1, 'the long-poll, heartbeats and log batches share one connection');
  await assert.rejects(
    Agent.open({ ...({} as AgentConfig), dataDir }, {} as never),
    (e: unknown) => e instanceof AgentError && e.code === 'AGENT_RUNNING',
  );
  r.agent.stop();
  assert.deepEqual(await r.done, { reason: 'stopped' });
  assert.equal(existsSync(layout(dataDir).lock), false, 'the lock is released');
});

test('the control plane goes away: the agent keeps running, spools its log sealed, backs off with jitter, and reconnects when it is back', async () => {
  const dataDir = await registered('agent-b');
  const r = await start(dataDir);
  await waitFor(() => heartbeatsOf('agent-b').length >= 1, 10_000, 'first heartbeat');
  await cp.stop();
  const marker = 'offline-marker: camera 7 lost signal at the loading dock';
  r.logger.warn(marker);
  await waitFor(() => r.lines.some((l) => l.includes('control plane unavailable')), 10_000, 'offline noticed');
  await new Promise((res) => setTimeout(res, 1200));
  let settled = false;
  void r.done.then(() => (settled = true));
  assert.equal(settled, false, 'still running while the control plane is down');
  // Backoff 40 ms doubling to a 320 ms cap, with random 0.5 → 3/4 of each ceiling.
  for (const d of [30, 60, 120, 240])
    assert.ok(r.sleeps.includes(d), `slept ${d} ms while backing off (saw ${[...new Set(r.sleeps)].join(',')})`);
  const status = await (await readStore(dataDir)).readJson(RECORD.status, agentStatus);
  assert.equal(status?.online, false);
  assert.equal(status?.lastError?.code, 'CONTROL_PLANE_UNREACHABLE');

  // While offline the marker sits in the spool, sealed.
  await r.logger.flush();
  assert.ok(readdirSync(layout(dataDir).spool).some((f) => f.endsWith('.seg')));
  const identity = await (await readStore(dataDir)).readJson(RECORD.identity, identityRecord);
  assert.deepEqual(
    grepDir(dataDir, [
      'offline-marker',
      'loading dock',
      ...pemBodyPieces(keyPem(Buffer.from(identity!.keyPkcs8, 'base64'))),
      PASS,
      'agent-b',
    ]),
    [],
  );

  const before = heartbeatsOf('agent-b').length;
  await cp.restart();
  await waitFor(() => heartbeatsOf('agent-b').length > before, 10_000, 'heartbeat after the return');
  await waitFor(() => logMessagesOf('agent-b').includes(marker), 10_000, 'spooled log shipped after the return');
  await waitFor(() => r.lines.some((l) => l.includes('connected to the control plane')), 5000);
  r.agent.stop();
  assert.deepEqual(await r.done, { reason: 'stopped' });
});

test('a reboot job: running, then systemd is asked; after the reboot (new boot id) it is reported succeeded', async () => {
  const dataDir = await registered('agent-c');
  const r = await start(dataDir, { bootId: 'boot-1' });
  await waitFor(() => heartbeatsOf('agent-c').length >= 1);
  cp.setJobs('agent-c', [{ id: 'job-1', kind: 'reboot', createdAt: new Date().toISOString() }]);
  await waitFor(() => r.runtime.calls.includes('reboot'), 10_000, 'reboot asked');
  assert.deepEqual(
    cp.jobUpdates.filter((u) => u.device === 'agent-c').map((u) => u.body.status),
    ['running'],
  );
  r.agent.stop();
  await r.done;

  const after = await start(dataDir, { bootId: 'boot-2' });
  await waitFor(() => cp.jobUpdates.some((u) => u.id === 'job-1' && u.body.status === 'succeeded'), 10_000, 'succeeded after reboot');
  assert.deepEqual(after.runtime.calls, [], 'not rebooted twice');
  after.agent.stop();
  await after.done;
});

test('deregistered: the next request is refused, the agent stops, records why, and will not start until reset', async () => {
  const dataDir = await registered('agent-d');
  const r = await start(dataDir);
  await waitFor(() => heartbeatsOf('agent-d').length >= 1);
  cp.revoke('agent-d');
  const exit = await r.done;
  assert.equal(exit.reason, 'refused');
  assert.equal(exit.reason === 'refused' ? exit.code : '', 'CERT_REVOKED');
  const state = await (await readStore(dataDir)).readJson(RECORD.state, agentState);
  assert.equal(state?.refused?.code, 'CERT_REVOKED');
  await assert.rejects(
    start(dataDir),
    (e: unknown) => e instanceof AgentError && e.code === 'DEVICE_REFUSED' && /reset --full/.test(e.message),
  );
});

test('a remote reset job: reported running, then the root key is destroyed and the data folder wiped', async () => {
  const dataDir = await registered('agent-e');
  const r = await start(dataDir);
  await waitFor(() => heartbeatsOf('agent-e').length >= 1);
  cp.setJobs('agent-e', [{ id: 'job-r', kind: 'reset', createdAt: new Date().toISOString() }]);
  assert.deepEqual(await r.done, { reason: 'reset' });
  assert.deepEqual(
    cp.jobUpdates.filter((u) => u.device === 'agent-e').map((u) => `${u.id} ${String(u.body.status)}`),
    ['job-r running'],
  );
  assert.deepEqual(readdirSync(dataDir), [], 'unprovisioned: nothing left');
  await assert.rejects(start(dataDir), (e: unknown) => e instanceof AgentError && e.code === 'NOT_REGISTERED');
});

test('the certificate renews at two thirds of its life with a new key, and the agent carries on with it', async () => {
  const saved = cp.certValidityMs;
  cp.certValidityMs = 3000; // issued with notBefore 1 s back: renewal due ~1.7 s after registration
  try {
    const dataDir = await registered('agent-f');
    const first = await (await readStore(dataDir)).readJson(RECORD.identity, identityRecord);
    const r = await start(dataDir);
    await waitFor(() => r.lines.some((l) => l.includes('device certificate renewed')), 10_000, 'renewal');
    const renewed = await (await readStore(dataDir)).readJson(RECORD.identity, identityRecord);
    assert.notEqual(renewed?.certPem, first?.certPem);
    assert.notEqual(renewed?.keyPkcs8, first?.keyPkcs8, 'a new key pair each time');
    assert.ok(renewed?.renewedAt !== undefined);
    const beats = heartbeatsOf('agent-f').length;
    await waitFor(() => heartbeatsOf('agent-f').length > beats + 2, 10_000, 'heartbeats with the renewed certificate');
    r.agent.stop();
    assert.deepEqual(await r.done, { reason: 'stopped' });
    assert.ok(cp.deviceRecord('agent-f')!.certSerials.size >= 2);
  } finally {
    cp.certValidityMs = saved;
  }
});

test('integrity: a file changed under a running agent makes it compromised, and the heartbeat names the file', async () => {
  const release = generateKeyPairSync('ed25519');
  const root = mkdtempSync(join(tmpdir(), 'sl-agent-installed-'));
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'main.ts'), 'ok');
  writeFileSync(
    join(root, MANIFEST_FILE),
    JSON.stringify(
      signManifest(await buildManifest(root, { name: '@sightline/agent', version: '0.1.0', createdAt: new Date() }), release.privateKey),
    ),
  );
  const integrity = new IntegrityMonitor({ root, trustedKeys: [release.publicKey], clock: systemClock, intervalMs: 50 });
  const dataDir = await registered('agent-g');
  const r = await start(dataDir, { integrity, config: { heartbeatIntervalMs: 5_000 } });
  await waitFor(() => heartbeatsOf('agent-g').length >= 1);
  assert.equal((heartbeatsOf('agent-g')[0]!.body.integrity as { state: string }).state, 'verified');
  writeFileSync(join(root, 'src', 'main.ts'), 'tampered');
  // The heartbeat interval is 5 s: the change is reported at once, not at the next beat.
  await waitFor(
    () => heartbeatsOf('agent-g').some((h) => (h.body.integrity as { state: string }).state === 'compromised'),
    3000,
    'compromised heartbeat',
  );
  const hb = heartbeatsOf('agent-g').find((h) => (h.body.integrity as { state: string }).state === 'compromised')!;
  assert.equal((hb.body.integrity as { detail: string }).detail, 'src/main.ts changed');
  r.agent.stop();
  await r.done;
});
