/**
 * Log ingestion (issue 4): lines/s through the HTTPS API (POST
 * .../log-groups/G/streams/S/events, batches of 500 and 5,000 lines, keep-alive
 * TLS 1.3 from a separate process), against the ceiling measured in the same
 * run: raw gzip (the server's level) + AES-256-GCM of the same JSONL bytes in
 * this process, no HTTP, JSON, database or audit. Also a read-back figure
 * (GET .../events, decrypt + gunzip + filter). Embedded SQLite store.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, gzipSync } from 'node:zlib';

interface LoadJob {
  port: number;
  ca: string;
  token: string;
  path: string;
  batch: number;
  concurrency: number;
  seconds: number;
}

interface LoadResult {
  batches: number;
  errors: number;
  firstError: string;
  seconds: number;
  bodyBytes: number;
  p50Ms: number;
  p99Ms: number;
}

const LEVELS = ['info', 'info', 'info', 'debug', 'warn', 'error'] as const;
const STATES = ['enter', 'exit', 'dwell', 'lost'] as const;

/** Realistic app output: ~130-byte lines with counters, ids and some randomness (so gzip is not flattered). */
function makeEvents(
  count: number,
  salt: number,
  now: number,
): { time: number; message: string; level: string; fields: Record<string, string | number> }[] {
  const rnd = randomBytes(count * 4);
  return Array.from({ length: count }, (_, i) => {
    const frame = salt * count + i;
    const track = rnd.toString('hex', i * 4, i * 4 + 4);
    return {
      time: now - (count - i) * 7,
      level: LEVELS[i % LEVELS.length] ?? 'info',
      message: `people-counter cam-${i % 8} frame=${frame} detections=${(i * 7) % 5} latency_ms=${(10 + ((i * 37) % 900) / 10).toFixed(1)} track=${track} state=${STATES[i % 4]} zone=aisle-${(i * 13) % 24}`,
      fields: { app: 'people-counter', camera: `cam-${i % 8}` },
    };
  });
}

/** The bytes the server seals: one JSON object per line, as log-codec writes them. */
function jsonlOf(events: ReturnType<typeof makeEvents>): Buffer {
  return Buffer.from(events.map((e) => JSON.stringify({ time: e.time, message: e.message, level: e.level, fields: e.fields })).join('\n'));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** The client, in its own process so it does not share the server's event loop. */
async function child(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency, ca: job.ca, minVersion: 'TLSv1.3' });
  const bodies = Array.from({ length: 8 }, (_, k) => Buffer.from(JSON.stringify({ events: makeEvents(job.batch, k, Date.now()) })));
  const latencies: number[] = [];
  let errors = 0;
  let firstError = '';
  let bodyBytes = 0;
  let n = 0;
  const post = (): Promise<void> =>
    new Promise((done) => {
      const body = bodies[n++ % bodies.length] as Buffer;
      const t0 = performance.now();
      const req = request(
        {
          agent,
          host: '127.0.0.1',
          port: job.port,
          method: 'POST',
          path: job.path,
          servername: 'localhost',
          headers: { authorization: `Bearer ${job.token}`, 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 201) {
              latencies.push(performance.now() - t0);
              bodyBytes += body.length;
            } else {
              errors++;
              firstError ||= `${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`;
            }
            done();
          });
        },
      );
      req.on('error', (e) => {
        errors++;
        firstError ||= e.message;
        done();
      });
      req.end(body);
    });
  await Promise.all(Array.from({ length: job.concurrency }, post)); // warm up connections
  latencies.length = 0;
  bodyBytes = 0;
  const start = performance.now();
  const deadline = start + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < deadline) await post();
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    batches: latencies.length,
    errors,
    firstError,
    seconds,
    bodyBytes,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

function runChild(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const c = fork(fileURLToPath(import.meta.url), ['--child'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    c.once('message', (m) => {
      resolve(m as LoadResult);
      c.kill();
    });
    c.once('error', reject);
    c.send(job);
  });
}

/** Raw gzip + AES-256-GCM over the same JSONL, one batch at a time, for `seconds`. */
function ceiling(batch: number, seconds: number): { linesPerSecond: number; compressedRatio: number } {
  const samples = Array.from({ length: 8 }, (_, k) => jsonlOf(makeEvents(batch, k, Date.now())));
  const key = randomBytes(32);
  let lines = 0;
  let inBytes = 0;
  let outBytes = 0;
  const start = performance.now();
  for (let i = 0; performance.now() - start < seconds * 1000; i++) {
    const plain = samples[i % samples.length] as Buffer;
    const gz = gzipSync(plain, { level: constants.Z_BEST_SPEED });
    const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
    const sealed = Buffer.concat([c.update(gz), c.final(), c.getAuthTag()]);
    lines += batch;
    inBytes += plain.length;
    outBytes += sealed.length;
  }
  return { linesPerSecond: lines / ((performance.now() - start) / 1000), compressedRatio: outBytes / inBytes };
}

export async function benchLogs(seconds = 8, concurrency = 4): Promise<Record<string, unknown>> {
  const { base32Decode, totpCode } = await import('@sightline/core');
  const { initDataDir, loadConfig, startControlPlane } = await import('@sightline/server');
  const { silentLogger } = await import('../packages/server/src/logging/logger.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-logs-'));
  const init = await initDataDir({ dataDir, port: 0, env: {} });
  const config = loadConfig(dataDir, {}, { 'server.host': '127.0.0.1' });
  const plane = await startControlPlane(config, { logger: silentLogger });
  const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  const port = Number(new URL(plane.url).port);
  const call = (method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          ca,
          servername: 'localhost',
          headers: {
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  try {
    const login = await call('POST', '/api/v1/auth/login', undefined, {
      user: init.admin.name,
      password: init.admin.password,
      totp: totpCode(base32Decode(init.admin.totpSecret), Date.now()),
    });
    const token = String(login.body['token']);
    const created = await call('POST', '/api/v1/projects/default/log-groups', token, { name: 'bench' });
    if (created.status !== 201) throw new Error(`create group: ${created.status} ${JSON.stringify(created.body)}`);

    const out: Record<string, unknown> = { bench: 'logs', storage: 'sqlite', concurrency, seconds };
    for (const batch of [500, 5000]) {
      const r = await runChild({
        port,
        ca,
        token,
        path: `/api/v1/projects/default/log-groups/bench/streams/b${batch}/events`,
        batch,
        concurrency,
        seconds,
      });
      const raw = ceiling(batch, 3);
      const lps = (r.batches * batch) / r.seconds;
      out[`batch${batch}`] = {
        apiLinesPerSecond: Math.round(lps),
        apiBatchesPerSecond: Number((r.batches / r.seconds).toFixed(1)),
        apiRequestMBps: Number((r.bodyBytes / r.seconds / 1e6).toFixed(1)),
        p50Ms: Number(r.p50Ms.toFixed(1)),
        p99Ms: Number(r.p99Ms.toFixed(1)),
        errors: r.errors,
        ...(r.firstError === '' ? {} : { firstError: r.firstError }),
        rawGzipAesGcmLinesPerSecond: Math.round(raw.linesPerSecond),
        ratio: Number((lps / raw.linesPerSecond).toFixed(3)),
        storedBytesPerPlaintextByte: Number(raw.compressedRatio.toFixed(3)),
      };
    }

    // Read back: page through what was stored (decrypt + gunzip + JSON), for up to 3 s.
    let read = 0;
    let after = '';
    const t0 = performance.now();
    while (performance.now() - t0 < 3000) {
      const r = await call(
        'GET',
        `/api/v1/projects/default/log-groups/bench/events?limit=10000${after === '' ? '' : `&after=${after}`}`,
        token,
      );
      const events = r.body['events'] as unknown[] | undefined;
      if (r.status !== 200 || events === undefined || events.length === 0) break;
      read += events.length;
      after = String(r.body['nextToken']);
    }
    out['readLinesPerSecond'] = Math.round(read / ((performance.now() - t0) / 1000));
    out['readLines'] = read;
    return out;
  } finally {
    await plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) {
  process.once('message', (job) => {
    void child(job as LoadJob).then((r) => process.send?.(r));
  });
}
