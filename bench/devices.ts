/**
 * Fleet scale (issue 5): one control plane process holding N simulated agents
 * over mTLS, each with its own certificate, one keep-alive connection for the
 * long-poll (wait 30 s) and one for a heartbeat every 30 s. Reports the
 * heartbeat latency percentiles and the server's CPU and memory at each N.
 */
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID, webcrypto } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initDataDir, loadConfig } from '@sightline/server';
import { RootKey } from '../packages/server/src/keys/root-key.js';
import { issueCertificate, pkcs8ToPem } from '../packages/server/src/tls/ca.js';
import { loadCertificateAuthority } from '../packages/server/src/tls/server-material.js';
import { X509Certificate } from 'node:crypto';
import { CLOCK_TICKS, cpuSecondsOf, statFields } from './lib/proc.js';
import { openDatabase, storageUrlOf } from './lib/storage.js';

const HEARTBEAT_MS = 30_000;
/**
 * BENCH_DEVICES_TRANSPORT=http1: each simulated appliance holds two
 * keep-alive HTTP/1.1 connections (the long-poll's and one for heartbeats),
 * as agents before HTTP/2 did, for comparison. The default is the agent's
 * own way: ONE HTTP/2 connection per appliance, the long-poll and the
 * heartbeats as streams on it. (With two sockets per appliance, 10,000
 * appliances need 20,000 descriptors in each process: this machine's hard
 * limit, `ulimit -Hn`, is 20,000.)
 */
const TRANSPORT: 'h2' | 'http1' = process.env.BENCH_DEVICES_TRANSPORT === 'http1' ? 'http1' : 'h2';

/** One simulated appliance's connection(s) to the control plane. */
interface Sim {
  post(path: string, payload: Buffer): Promise<number>;
  /** A GET that answers with its status and ETag (0 on a network fault). */
  get(path: string, headers: Record<string, string>): Promise<{ status: number; etag: string | undefined }>;
  close(): void;
}

/** Requests the generator saw answered (heartbeats and long-poll answers), for CPU per request. */
let answered = 0;

function http1Sim(port: number, ca: string, id: { cert: string; key: string }): Sim {
  const agents = {
    control: new Agent({ keepAlive: true, maxSockets: 1, cert: id.cert, key: id.key, ca }),
    poll: new Agent({ keepAlive: true, maxSockets: 1, cert: id.cert, key: id.key, ca }),
  };
  const send = (agent: Agent, method: string, path: string, headers: Record<string, string | number>, payload?: Buffer) =>
    new Promise<{ status: number; etag: string | undefined }>((resolve) => {
      const req = request({ agent, host: '127.0.0.1', port, path, method, ca, servername: 'localhost', headers }, (res) => {
        answered++;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers['etag'] }));
      });
      req.on('error', () => resolve({ status: 0, etag: undefined }));
      req.end(payload);
    });
  return {
    post: async (path, payload) =>
      (await send(agents.control, 'POST', path, { 'content-type': 'application/json', 'content-length': payload.length }, payload)).status,
    get: (path, headers) => send(agents.poll, 'GET', path, headers),
    close: () => {
      agents.control.destroy();
      agents.poll.destroy();
    },
  };
}

function h2Sim(port: number, ca: string, id: { cert: string; key: string }): Sim {
  let session: ClientHttp2Session | undefined;
  const live = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      const s = connect(`https://127.0.0.1:${port}`, { ca, cert: id.cert, key: id.key, servername: 'localhost' });
      s.on('error', () => undefined);
      session = s;
    }
    return session;
  };
  const send = (headers: Record<string, string | number>, payload?: Buffer) =>
    new Promise<{ status: number; etag: string | undefined }>((resolve) => {
      let stream;
      try {
        stream = live().request(headers, { endStream: payload === undefined });
      } catch {
        session = undefined;
        return resolve({ status: 0, etag: undefined });
      }
      let head: Record<string, unknown> = {};
      stream.on('response', (h) => (head = h));
      stream.on('data', () => undefined);
      stream.on('end', () => {
        answered++;
        resolve({ status: Number(head[':status'] ?? 0), etag: head['etag'] as string | undefined });
      });
      stream.on('error', () => resolve({ status: 0, etag: undefined }));
      if (payload !== undefined) stream.end(payload);
    });
  return {
    post: async (path, payload) =>
      (await send({ ':method': 'POST', ':path': path, 'content-type': 'application/json', 'content-length': payload.length }, payload))
        .status,
    get: (path, headers) => send({ ':method': 'GET', ':path': path, ...headers }),
    close: () => session?.destroy(),
  };
}

function poll(sim: Sim, etag: string, stop: () => boolean): void {
  if (stop()) return;
  void sim.get('/device/v1/desired-state?wait=30', etag === '' ? {} : { 'if-none-match': etag }).then(({ status, etag: next }) => {
    if (status === 0) setTimeout(() => poll(sim, etag, stop), 1000 + Math.random() * 2000);
    else poll(sim, next ?? etag, stop);
  });
}

/** CPU seconds of the event loop (the main thread) and of the other threads (V8's GC helpers, libuv's pool). */
function threadCpuOf(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'eventLoop' : 'otherThreads';
      const f = statFields(stat);
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / CLOCK_TICKS);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}
function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

async function setup(dataDir: string, n: number): Promise<{ identities: { cert: string; key: string }[] }> {
  await initDataDir({ dataDir, port: 0, env: {} });
  const config = loadConfig(dataDir, {});
  const rootKey = RootKey.load(dataDir);
  const ca = loadCertificateAuthority(dataDir, rootKey);
  const db = await openDatabase({ url: storageUrlOf(config) });
  // One key pair for every simulated device keeps setup quick; each device still has its own certificate.
  const alg = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const key = pkcs8ToPem(new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
  const identities: { cert: string; key: string }[] = [];
  const now = Date.now();
  for (let i = 0; i < n; i += 500) {
    const devices = [];
    const certs = [];
    for (let j = i; j < Math.min(n, i + 500); j++) {
      const id = randomUUID();
      const name = `sim-${j}`;
      const issued = await issueCertificate(ca, { commonName: name, usage: 'client', validityDays: 2, publicKey: keys.publicKey });
      const c = new X509Certificate(issued.certPem);
      devices.push({
        id,
        project: 'default',
        name,
        state: 'registered' as const,
        tags: '{}',
        network: '{"mode":"dhcp"}',
        archive_sha256: '',
        created_at: now,
        registered_at: now,
        deregistered_at: null,
        last_seen_at: null,
        status: null,
        integrity_state: 'unknown' as const,
        agent_version: null,
      });
      certs.push({
        serial: c.serialNumber.toLowerCase(),
        device_id: id,
        kind: 'operational' as const,
        sha256: c.fingerprint256.replaceAll(':', '').toLowerCase(),
        issued_at: now,
        expires_at: Date.parse(c.validTo),
        used_at: null,
        revoked_at: null,
      });
      identities.push({ cert: issued.certPem, key });
    }
    await db.db.insertInto('devices').values(devices).execute();
    await db.db.insertInto('device_certs').values(certs).execute();
  }
  await db.close();
  return { identities };
}

/** BENCH_DEVICES_STEPS=3000 (comma-separated) and BENCH_DEVICES_SECONDS=60 pick the steps and the measuring window. */
function stepsFromEnv(): number[] | undefined {
  const raw = process.env.BENCH_DEVICES_STEPS;
  if (raw === undefined || raw === '') return undefined;
  const steps = raw.split(',').map(Number);
  if (!steps.every((n) => Number.isInteger(n) && n > 0)) throw new Error('BENCH_DEVICES_STEPS: give device counts like 1000,2500');
  return steps;
}

export async function benchDevices(
  steps = stepsFromEnv() ?? [1000, 2500, 5000, 10000],
  measureSeconds = Number(process.env.BENCH_DEVICES_SECONDS ?? 60),
): Promise<Record<string, unknown>> {
  const max = Math.max(...steps);
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-fleet-'));
  let child: ChildProcess | undefined;
  try {
    const { identities } = await setup(dataDir, max);
    const caPem = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
    const script = fileURLToPath(new URL('./lib/serve.ts', import.meta.url));
    child = spawn(
      process.execPath,
      [
        ...(process.env.BENCH_CPU_PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]),
        // BENCH_TRACE_GC=1: the server's garbage collections on stderr (pauses show as event-loop delay).
        ...(process.env.BENCH_TRACE_GC === '1' ? ['--trace-gc'] : []),
        '--import',
        'tsx',
        script,
        dataDir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [port, pid] = await new Promise<[number, number]>((resolve) => {
      let out = '';
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+) (\d+)/.exec(out);
        if (m !== null) resolve([Number(m[1]), Number(m[2])]);
        if (process.env.BENCH_TRACE_GC === '1') process.stderr.write(d);
      });
    });
    // One payload for every beat: the generator shares the 2 cores with the server, so it does no per-request JSON work.
    const heartbeat = Buffer.from(
      JSON.stringify({
        agentVersion: 'bench',
        uptimeSeconds: 1,
        integrity: { state: 'verified' },
        rootKeyProtection: 'tpm',
        disk: { totalBytes: 1, freeBytes: 1 },
        memory: { totalBytes: 1, freeBytes: 1 },
        cpu: { load1: 0, cores: 2 },
      }),
    );
    let stopped = false;
    const sims: Sim[] = [];
    const latencies: number[] = [];
    // BENCH_DEVICES_TIMELINE=1: each second's heartbeat count, p50 and max on stderr (steady queueing or stalls?).
    const TIMELINE = process.env.BENCH_DEVICES_TIMELINE === '1';
    const timeline: [number, number][] = [];
    let failures = 0;
    const results: Record<string, unknown>[] = [];
    const beat = (sim: Sim): void => {
      if (stopped) return;
      const t0 = performance.now();
      void sim.post('/device/v1/heartbeat', heartbeat).then((status) => {
        if (status === 200) {
          const ms = performance.now() - t0;
          latencies.push(ms);
          if (TIMELINE) timeline.push([Math.floor(performance.now() / 1000), ms]);
        } else failures++;
        // As the agent does: the next beat one interval ±10% later (without it, beats that a stall lined up stay lined up).
        setTimeout(() => beat(sim), HEARTBEAT_MS * (0.9 + 0.2 * Math.random()));
      });
    };
    for (const n of steps) {
      // Ramp up to n devices, spreading their first heartbeats across one period.
      while (sims.length < n) {
        const id = identities[sims.length]!;
        const sim = TRANSPORT === 'h2' ? h2Sim(port, caPem, id) : http1Sim(port, caPem, id);
        sims.push(sim);
        poll(sim, '', () => stopped);
        setTimeout(() => beat(sim), Math.random() * HEARTBEAT_MS);
        if (sims.length % 250 === 0) await new Promise((r) => setTimeout(r, 500));
      }
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS + 5000)); // settle: every device has connected and beaten once
      latencies.length = 0;
      timeline.length = 0;
      failures = 0;
      answered = 0;
      // The generator's own event-loop delay: a heartbeat's measured latency includes it.
      const ownLoop = monitorEventLoopDelay({ resolution: 10 });
      ownLoop.enable();
      const cpu0 = cpuSecondsOf(pid);
      const threads0 = threadCpuOf(pid);
      const ownCpu0 = cpuSecondsOf();
      await new Promise((r) => setTimeout(r, measureSeconds * 1000));
      const cpuSeconds = cpuSecondsOf(pid) - cpu0;
      const ownCpuSeconds = cpuSecondsOf() - ownCpu0;
      const threadCores = Object.fromEntries(
        [...threadCpuOf(pid)]
          .map(([name, sec]) => [name, Number(((sec - (threads0.get(name) ?? 0)) / measureSeconds).toFixed(3))])
          .filter(([, cores]) => Number(cores) > 0),
      );
      const requestsPerSecond = answered / measureSeconds;
      const sorted = [...latencies].sort((a, b) => a - b);
      const pct = (p: number): number => Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(1));
      const step = {
        devices: n,
        heartbeats: sorted.length,
        failures,
        p50Ms: pct(0.5),
        p99Ms: pct(0.99),
        maxMs: pct(1),
        serverCpuCores: Number((cpuSeconds / measureSeconds).toFixed(2)),
        requestsPerSecond: Number(requestsPerSecond.toFixed(1)),
        // The figure to compare across runs on a busy machine: server CPU time per answered request.
        serverCpuMsPerRequest: Number(((cpuSeconds * 1000) / Math.max(1, answered)).toFixed(3)),
        generatorCpuCores: Number((ownCpuSeconds / measureSeconds).toFixed(2)),
        generatorLoopDelayP99Ms: Number((ownLoop.percentile(99) / 1e6).toFixed(1)),
        serverThreadCores: threadCores,
        serverRssMiB: Math.round(rssOf(pid) / 1048576),
        // One connection per appliance with HTTP/2 (two with HTTP/1.1), plus the database and a few files.
        serverOpenFiles: readdirSync(`/proc/${pid}/fd`).length,
        loadAverage1m: Number(loadavg()[0]?.toFixed(2)),
      };
      ownLoop.disable();
      results.push(step);
      if (TIMELINE) {
        const bySecond = new Map<number, number[]>();
        for (const [sec, ms] of timeline) {
          const list = bySecond.get(sec);
          if (list === undefined) bySecond.set(sec, [ms]);
          else list.push(ms);
        }
        for (const [sec, list] of [...bySecond].sort((a, b) => a[0] - b[0])) {
          list.sort((a, b) => a - b);
          process.stderr.write(
            `t=${sec} n=${list.length} p50=${list[Math.floor(list.length / 2)]?.toFixed(0)} max=${list.at(-1)?.toFixed(0)}\n`,
          );
        }
        timeline.length = 0;
      }
      process.stderr.write(`${JSON.stringify(step)}\n`);
      if (step.p99Ms > 1000 || failures > 0) break;
    }
    stopped = true;
    for (const s of sims) s.close();
    return {
      bench: 'devices',
      transport: TRANSPORT === 'h2' ? 'HTTP/2: one connection per appliance' : 'HTTP/1.1: two keep-alive connections per appliance',
      heartbeatSeconds: HEARTBEAT_MS / 1000,
      longPollWaitSeconds: 30,
      measureSeconds,
      steps: results,
    };
  } finally {
    child?.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
