import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../../server/test/harness.js';

/** Runs the real `sightline` CLI as a child process (no TTY), as cli.test.ts does. */

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MAIN = join(ROOT, 'packages/cli/src/main.ts');
// Resolved here, so that the CLI can run in any working directory.
const TSX = import.meta.resolve('tsx');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

// The CLI under test must not see the developer's own SIGHTLINE_* settings.
export const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGHTLINE_')));

/** Spawns `script` under tsx (no TTY); `stdout`/`stderr` are what it printed so far, `done` resolves when it exits. */
function start(
  script: string,
  args: string[],
  options: { env: Record<string, string | undefined>; cwd?: string; timeout?: number },
): { child: ChildProcessWithoutNullStreams; stdout(): string; stderr(): string; done: Promise<Result> } {
  const child = spawn(process.execPath, ['--import', TSX, script, ...args], {
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeout ?? 60_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export function runCli(args: string[], env: Record<string, string>, options: { input?: string; cwd?: string } = {}): Promise<Result> {
  const p = start(MAIN, args, { env: { ...baseEnv, ...env }, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  p.child.stdin.end(options.input ?? '');
  return p.done;
}

/**
 * Starts the CLI and leaves it running (for --follow): `output()` is what it
 * printed so far, `waitFor` resolves when stdout matches, `done` when it exits.
 */
export function spawnCli(
  args: string[],
  env: Record<string, string>,
): {
  child: ChildProcessWithoutNullStreams;
  output(): Result;
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<Result>;
} {
  const p = start(MAIN, args, { env: { ...baseEnv, ...env } });
  const { child, done } = p;
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', () => {
    for (const w of waiters.filter((x) => x.re.test(p.stdout()))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stdin.end();
  return {
    child,
    output: () => ({ code: null, stdout: p.stdout(), stderr: p.stderr() }),
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(p.stdout())) return resolve();
        const fail = (why: string): void => {
          clearTimeout(timer);
          reject(new Error(`${why} ${String(re)}; stdout: ${p.stdout()}; stderr: ${p.stderr()}`));
        };
        const timer = setTimeout(() => fail('timed out waiting for'), timeoutMs);
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void done.then(() => fail('the CLI exited before printing'));
      }),
    done,
  };
}

export const json = <T = Record<string, unknown>>(r: Result): T => JSON.parse(r.stdout) as T;

/** Several command lines in one child process (see run-many.ts): for many quick offline runs. */
export async function runCliMany(runs: { args: string[]; env: Record<string, string>; input?: string }[]): Promise<Result[]> {
  const p = start(join(ROOT, 'packages/cli/test/run-many.ts'), [], { env: baseEnv, timeout: 120_000 });
  p.child.stdin.end(JSON.stringify({ runs }));
  const res = await p.done;
  if (res.code !== 0) throw new Error(`run-many exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout) as Result[];
}

/**
 * The settings that point the CLI at harness server `s` as its first admin,
 * with its profiles in `configDir`; `fresh` signs in again for a new token.
 */
export async function adminEnv(s: TestServer, configDir: string, fresh = false): Promise<Record<string, string>> {
  return {
    SIGHTLINE_URL: s.url,
    SIGHTLINE_CA: join(s.dataDir, 'ca.pem'),
    SIGHTLINE_TOKEN: await s.adminToken(fresh),
    SIGHTLINE_CONFIG_DIR: configDir,
  };
}

/** A test file's harness server and the admin env for it (profiles under `tmp`); `stopCliServer` undoes both. */
export async function startCliServer(tmp: string): Promise<{ s: TestServer; env: Record<string, string> }> {
  const s = await startTestServer();
  return { s, env: await adminEnv(s, join(tmp, 'config')) };
}

export async function stopCliServer(s: TestServer, tmp: string): Promise<void> {
  await s.close();
  rmSync(tmp, { recursive: true, force: true });
}
