/**
 * A keep-alive HTTPS load generator that runs in its own process (so it does
 * not share the event loop with the server it measures). Usage from a bench:
 * `await runLoad({ url, ca, token, concurrency, seconds })`.
 */
import { fork } from 'node:child_process';
import { Agent, request } from 'node:https';
import { fileURLToPath } from 'node:url';

export interface LoadOptions {
  url: string;
  ca: string;
  token?: string;
  concurrency: number;
  seconds: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => {
      resolve(m as LoadResult);
      child.kill();
    });
    child.once('error', reject);
    child.send(options);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function child(o: LoadOptions): Promise<LoadResult> {
  const url = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency, ca: o.ca, minVersion: 'TLSv1.3' });
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + o.seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((done) => {
      const t0 = performance.now();
      const req = request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, servername: 'localhost', headers: o.token === undefined ? {} : { authorization: `Bearer ${o.token}` } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - t0);
            else errors++;
            done();
          });
        },
      );
      req.on('error', () => {
        errors++;
        done();
      });
      req.end();
    });
  // Warm up the connections first, then measure.
  await Promise.all(Array.from({ length: o.concurrency }, one));
  latencies.length = 0;
  errors = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  agent.destroy();
  return { requests: latencies.length, errors, perSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

if (process.argv.includes('--child')) {
  process.once('message', (o) => {
    void child(o as LoadOptions).then((r) => process.send?.(r));
  });
}
