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
