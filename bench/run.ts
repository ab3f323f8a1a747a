/**
 * `npm run bench [-- NAME...]`: runs the benchmarks and prints one JSON line
 * each. Benchmarks never fail on speed; BENCHMARKS.md keeps the figures.
 */
import { benchArtifacts } from './artifacts.js';
import { benchAudit } from './audit.js';
import { benchDevices } from './devices.js';
import { benchHttpsApi } from './https-api.js';
import { benchLogs } from './logs.js';
import { benchPipeline } from './pipeline.js';
import { benchUpdates } from './updates.js';

const all: Record<string, () => Promise<Record<string, unknown>>> = {
  'https-api': () => benchHttpsApi(),
  audit: () => benchAudit(),
  artifacts: () => benchArtifacts(),
  devices: () => benchDevices(),
  logs: () => benchLogs(),
  pipeline: () => benchPipeline(),
  updates: () => benchUpdates(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted.length === 0 ? Object.keys(all) : wanted) {
  const run = all[name];
  if (run === undefined) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(all).join(', ')}`);
    process.exit(2);
  }
  const result = await run();
  console.log(JSON.stringify({ ...result, node: process.version, at: new Date().toISOString() }));
}
process.exit(0);
