#!/usr/bin/env node
// Runs every *.test.ts under packages/*/{src,test} and examples/*/{src,test} with node:test
// and tsx. Extra arguments narrow the run to files whose path contains them.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const files = [];
const roots = ['packages', 'examples'].filter((r) => {
  try {
    return statSync(join(root, r)).isDirectory();
  } catch {
    return false;
  }
});
for (const [top, pkg] of roots.flatMap((r) => readdirSync(join(root, r)).map((p) => [r, p]))) {
  for (const sub of ['src', 'test']) {
    const dir = join(root, top, pkg, sub);
    try {
      statSync(dir);
    } catch {
      continue;
    }
    walk(dir, files);
  }
}
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// A hung test must fail the run, not hold CI until its own limit: each test gets at most
// TEST_TIMEOUT_MS (tests that need longer say so themselves), the whole run RUN_TIMEOUT_MS,
// after which the runner and every process it started (one process group) are killed.
const TEST_TIMEOUT_MS = 10 * 60_000;
const RUN_TIMEOUT_MS = Number(process.env.SIGHTLINE_TEST_RUN_TIMEOUT_MS ?? 40 * 60_000);
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, '--test-reporter=spec', ...selected],
  { cwd: root, stdio: 'inherit', detached: true, env: { ...process.env, SIGHTLINE_TEST: '1' } },
);
const killGroup = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};
const watchdog = setTimeout(() => {
  console.error(
    `\nscripts/test.mjs: the tests ran past ${RUN_TIMEOUT_MS / 60_000} min; the last file still running above hangs. Stopping them.`,
  );
  killGroup('SIGTERM');
  setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
}, RUN_TIMEOUT_MS);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => killGroup(signal));
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  // Whatever the test files left behind goes with the group.
  killGroup('SIGKILL');
  process.exit(code ?? (signal === null ? 1 : 128));
});
