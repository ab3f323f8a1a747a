#!/usr/bin/env node
// Runs every *.test.ts under packages/*/{src,test} and examples/*/{src,test} with node:test
// and tsx. Extra arguments narrow the run to files whose path contains them.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
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
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...selected],
  { cwd: root, stdio: 'inherit', env: { ...process.env, SIGHTLINE_TEST: '1' } },
);
process.exit(result.status ?? 1);
