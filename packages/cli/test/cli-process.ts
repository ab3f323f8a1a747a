import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGHTLINE_')));

export function runCli(args: string[], env: Record<string, string>, options: { input?: string; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...baseEnv, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
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
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: ROOT,
    env: { ...baseEnv, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const w of waiters.filter((x) => x.re.test(stdout))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end();
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    child,
    output: () => ({ code: null, stdout, stderr }),
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(stdout)) return resolve();
        const fail = (why: string): void => {
          clearTimeout(timer);
          reject(new Error(`${why} ${String(re)}; stdout: ${stdout}; stderr: ${stderr}`));
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
  const res = await new Promise<Result>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'packages/cli/test/run-many.ts')], {
      cwd: ROOT,
      env: baseEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(JSON.stringify({ runs }));
  });
  if (res.code !== 0) throw new Error(`run-many exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout) as Result[];
}
