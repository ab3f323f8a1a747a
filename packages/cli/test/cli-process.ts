import { spawn } from 'node:child_process';
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

export const json = <T = Record<string, unknown>>(r: Result): T => JSON.parse(r.stdout) as T;

/** Several command lines in one child process (see run-many.ts): for many quick offline runs. */
export async function runCliMany(runs: { args: string[]; env: Record<string, string> }[]): Promise<Result[]> {
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
