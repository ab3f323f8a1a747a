// Builds the console into packages/console/dist when it is missing or older
// than its sources; the demo and the tests call it before starting a control
// plane. Usage: `node --import tsx packages/console/scripts/ensure-built.ts`
// or `await ensureConsoleBuilt()`.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const consoleRoot = fileURLToPath(new URL('..', import.meta.url));
export const consoleDist = join(consoleRoot, 'dist');

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

function stale(): boolean {
  const index = join(consoleDist, 'index.html');
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  const sources = Math.max(newest(join(consoleRoot, 'src')), statSync(join(consoleRoot, 'index.html')).mtimeMs, statSync(join(consoleRoot, 'vite.config.ts')).mtimeMs);
  return sources > built;
}

const lockDir = join(consoleRoot, '.build-lock');

/** One build at a time across processes (test files run in parallel): mkdir is atomic. */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      // A lock left by a killed build (builds take seconds) is taken over after 5 minutes.
      if (existsSync(lockDir) && Date.now() - statSync(lockDir).mtimeMs > 300_000) rmSync(lockDir, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function viteBuild(quiet: boolean): Promise<void> {
  const local = join(consoleRoot, 'node_modules/.bin/vite');
  const bin = existsSync(local) ? local : join(consoleRoot, '../../node_modules/.bin/vite');
  return new Promise<void>((resolve, reject) => {
    const child = spawn(bin, ['build', '--logLevel', quiet ? 'error' : 'info'], { cwd: consoleRoot, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`vite build failed with exit code ${String(code)}`))));
  });
}

/** Returns the dist folder, building it first (vite build) when it is missing or older than the sources. */
export async function ensureConsoleBuilt(options: { quiet?: boolean } = {}): Promise<string> {
  if (!stale()) return consoleDist;
  await withBuildLock(async () => {
    // Another process may have built it while this one waited.
    if (stale()) await viteBuild(options.quiet === true);
  });
  return consoleDist;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureConsoleBuilt().then(
    (dir) => console.log(`console built in ${dir}`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
