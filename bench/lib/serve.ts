// Runs a control plane from an initialised data folder in its own process, for
// benchmarks that load it from another process; prints `listening <port> <pid>`.
import { loadConfig } from '../../packages/server/src/config/config.js';
import { startControlPlane } from '../../packages/server/src/app.js';
import { silentLogger } from '../../packages/server/src/logging/logger.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: serve.ts DATA_DIR');
const plane = await startControlPlane(loadConfig(dataDir, {}, { 'server.host': '127.0.0.1' }), { logger: silentLogger });
process.stdout.write(`listening ${new URL(plane.url).port} ${process.pid}\n`);
// A clean exit on SIGTERM, so `--cpu-prof` (BENCH_CPU_PROF=DIR) can write its profile.
process.once('SIGTERM', () => void plane.close().finally(() => process.exit(0)));
// BENCH_LOOP_DELAY=1: the event loop's delay every 10 s on stderr (is the server blocked, or busy?).
if (process.env.BENCH_LOOP_DELAY === '1') {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  setInterval(() => {
    const ms = (n: number): string => (n / 1e6).toFixed(1);
    process.stderr.write(`loop delay p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms, max ${ms(h.max)} ms\n`);
    h.reset();
  }, 10_000).unref();
}
