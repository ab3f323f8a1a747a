/**
 * Signed updates (issue 7): time from creating update jobs for N simulated
 * appliances (one fleet call) to each job committed. Each simulated agent
 * holds its own mTLS identity, long-polls its desired state, runs a real
 * tuf-js Updater against the control plane's TUF routes (timestamp,
 * snapshot, targets, then the bundle, hash and length checked), unpacks the
 * bundle and reports every stage as the agent does. The control plane runs
 * in this process (like https-api), so the agents' CPU counts against it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Decrypter } from 'age-encryption';
import { BaseFetcher, Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { buildRoot, bundleTargetName, generateReleaseKey, nextTargets, packBundle, readBundle, releaseSigner, releaseTarget, signMetadata } from '@sightline/core';
import { deviceApi } from '@sightline/protocol';
import { initDataDir, loadConfig, startControlPlane, type ControlPlane } from '@sightline/server';
import { silentLogger } from '../packages/server/src/logging/logger.js';
import { keyAndCsr } from '../packages/server/test/device-client.js';

interface Sim {
  name: string;
  agent: Agent;
  port: number;
  ca: string;
}

function call(sim: Sim, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { agent: sim.agent, host: '127.0.0.1', servername: 'localhost', port: sim.port, method, path, ca: sim.ca, headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** tuf-js's fetcher over the simulated device's mTLS connection. */
class SimFetcher extends BaseFetcher {
  constructor(private readonly sim: Sim) {
    super();
  }
  fetch(url: string): Promise<NodeJS.ReadableStream> {
    return new Promise((resolve, reject) => {
      const req = request({ agent: this.sim.agent, host: '127.0.0.1', servername: 'localhost', port: this.sim.port, path: new URL(url).pathname, ca: this.sim.ca }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new DownloadHTTPError(`GET ${url}: ${res.statusCode}`, res.statusCode ?? 0));
        } else resolve(res);
      });
      req.on('error', reject);
      req.end();
    });
  }
}

async function enroll(plane: ControlPlane, ca: string, port: number, name: string): Promise<Sim> {
  const prov = await plane.services.devices.provision({ project: 'default', name, network: { mode: 'dhcp' }, ntp: [] });
  const d = new Decrypter();
  d.addPassphrase(prov.passphrase);
  const archive = deviceApi.provisioningArchive.parse(JSON.parse(await d.decrypt(prov.archive, 'text')));
  const { csrPem, keyPem } = await keyAndCsr(name);
  const bootstrap: Sim = { name, port, ca, agent: new Agent({ keepAlive: false, cert: archive.provisioning.certPem, key: archive.provisioning.keyPem, ca }) };
  const reg = await call(bootstrap, 'POST', '/device/v1/register', { csrPem });
  if (reg.status !== 200) throw new Error(`register ${name}: ${reg.status} ${reg.text}`);
  const { certPem } = JSON.parse(reg.text) as { certPem: string };
  return { name, port, ca, agent: new Agent({ keepAlive: true, maxSockets: 2, cert: certPem, key: keyPem, ca }) };
}

/** One appliance: waits for its update job, fetches and verifies through TUF, reports each stage, commits. */
async function runSim(sim: Sim, trustedRoot: Buffer, onDone: (ok: boolean) => void): Promise<void> {
  let etag = '';
  let job: deviceApi.DeviceJob | undefined;
  while (job === undefined) {
    const r = await call(sim, 'GET', '/device/v1/desired-state?wait=30', undefined, etag === '' ? {} : { 'if-none-match': etag });
    if (r.status === 200) {
      const e = r.headers['etag'];
      etag = typeof e === 'string' ? e : '';
      job = (JSON.parse(r.text) as deviceApi.DesiredState).jobs.find((j) => j.kind === 'update');
    }
  }
  const report = (body: deviceApi.JobUpdateRequest): Promise<unknown> => call(sim, 'POST', `/device/v1/jobs/${job.id}`, body);
  try {
    const dir = mkdtempSync(join(tmpdir(), 'sightline-bench-tuf-'));
    writeFileSync(join(dir, 'root.json'), trustedRoot);
    const base = `https://localhost:${sim.port}/device/v1/tuf`;
    const updater = new Updater({ metadataDir: dir, targetDir: dir, metadataBaseUrl: `${base}/metadata`, targetBaseUrl: `${base}/targets`, fetcher: new SimFetcher(sim) });
    await updater.refresh();
    const info = await updater.getTargetInfo(job.params?.target ?? '');
    if (info === undefined) throw new Error('target not in the signed metadata');
    await report({ status: 'running', stage: 'downloading', bytesDone: 0, bytesTotal: info.length });
    const file = await updater.downloadTarget(info, join(dir, 'bundle.tar'));
    await report({ status: 'running', stage: 'verifying', bytesDone: info.length, bytesTotal: info.length });
    readBundle(readFileSync(file));
    for (const stage of ['installing', 'rebooting', 'health-check'] as const) await report({ status: 'running', stage });
    await report({ status: 'succeeded', message: 'committed' });
    rmSync(dir, { recursive: true, force: true });
    onDone(true);
  } catch (err) {
    await report({ status: 'failed', message: `reverted: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500) });
    onDone(false);
  }
}

export async function benchUpdates(devices = 100, bundleBytes = 4 * 1024 * 1024): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-updates-'));
  await initDataDir({ dataDir, port: 0, env: {} });
  const plane = await startControlPlane(loadConfig(dataDir, {}, { 'server.host': '127.0.0.1' }), { logger: silentLogger });
  const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  const port = Number(new URL(plane.url).port);
  const sims: Sim[] = [];
  try {
    const releases = plane.services.releases;
    const online = await releases.onlineKeys();
    const rootKey = releaseSigner(generateReleaseKey());
    const targetsKey = releaseSigner(generateReleaseKey());
    const root = signMetadata(buildRoot({ root: [rootKey.key], rootThreshold: 1, targets: [targetsKey.key], targetsThreshold: 1, snapshot: [online.snapshot.key], timestamp: [online.timestamp.key] }, 1, new Date()), [rootKey]);
    await releases.installRoot(root.toJSON());
    const bundle = packBundle({ version: '2.0.0', files: [{ path: 'dist/agent.js', data: randomBytes(bundleBytes) }] });
    const system = { principal: { type: 'system' as const, id: 'bench', name: 'bench' }, requestId: 'bench', sourceIp: '127.0.0.1' };
    await plane.services.artifacts.put('default', `releases/${bundleTargetName('2.0.0')}`, Readable.from([bundle]), { declaredLength: bundle.length }, system);
    const targets = signMetadata(nextTargets(undefined, [releaseTarget(bundleTargetName('2.0.0'), bundle, { version: '2.0.0', securityVersion: 1, required: true })], new Date()), [targetsKey]);
    await releases.publish(targets.toJSON(), 'bench');

    for (let i = 0; i < devices; i++) sims.push(await enroll(plane, ca, port, `upd-${i}`));
    const trusted = Buffer.from(JSON.stringify(root.toJSON()));
    const times: number[] = [];
    let failures = 0;
    let t0 = 0;
    const all = Promise.all(sims.map((sim) => runSim(sim, trusted, (ok) => (ok ? times.push(performance.now() - t0) : failures++))));
    // Every agent is waiting in its long-poll before the jobs are created.
    await new Promise((r) => setTimeout(r, 2000));
    t0 = performance.now();
    const created = await releases.fleetUpdate('default', { version: '2.0.0' }, { principal: undefined, requestId: 'bench', sourceIp: '127.0.0.1', userAgent: 'bench' });
    const createMs = performance.now() - t0;
    await all;
    const sorted = [...times].sort((a, b) => a - b);
    const pct = (p: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0);
    return {
      bench: 'updates',
      devices,
      bundleBytes: bundle.length,
      jobs: created.jobs.length,
      createJobsMs: Math.round(createMs),
      committed: sorted.length,
      failures,
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      allCommittedMs: pct(1),
    };
  } finally {
    for (const s of sims) s.agent.destroy();
    await plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
