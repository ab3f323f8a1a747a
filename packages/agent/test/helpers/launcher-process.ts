import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Issue 7 end-to-end tests: the launcher (`sightline-agent launch`) as its own process, as the systemd unit runs it. */

const agentBin = fileURLToPath(new URL('../../bin/sightline-agent.js', import.meta.url));
/** This checkout's `sightline-agent` command (TypeScript, run under tsx). */
export const AGENT_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/**
 * The entry point of a release bundle that runs this checkout's agent
 * (CommonJS: a dynamic import of the real entry point), so that releases
 * built with it differ only in their release version.
 */
export const REAL_AGENT_ENTRY = `import(${JSON.stringify(pathToFileURL(agentBin).href)});\n`;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sightline-agent ARGS` to its end (e.g. `register`). */
export function runAgentCli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', AGENT_MAIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface LauncherProcess {
  child: ChildProcessWithoutNullStreams;
  /** What the launcher and its agents printed so far. */
  output(): string;
  exited: Promise<number | null>;
  /** The entry point the launcher's current agent process runs (its argv[1]), read from /proc; undefined between agents. */
  agentEntry(): string | undefined;
  /** SIGTERM, then waits for the launcher to end. */
  stop(): Promise<void>;
}

/** argv of the processes whose parent is `ppid` (Linux /proc). */
function childrenOf(ppid: number): string[][] {
  const out: string[][] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== ppid) continue;
      out.push(readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter((a) => a !== ''));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/**
 * Starts `sightline-agent launch --slots SLOTS --data-dir DATA --health-timeout S -- sightline-agent start --data-dir DATA`
 * with `env` added to this process's environment (the agent's intervals, for instance).
 */
export function startLauncher(o: { slotsDir: string; dataDir: string; healthTimeoutSeconds: number; env: Record<string, string> }): LauncherProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      AGENT_MAIN,
      'launch',
      '--slots',
      o.slotsDir,
      '--data-dir',
      o.dataDir,
      '--health-timeout',
      String(o.healthTimeoutSeconds),
      '--',
      'sightline-agent',
      'start',
      '--data-dir',
      o.dataDir,
    ],
    { env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stdin.end();
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    agentEntry: () =>
      child.pid === undefined ? undefined : childrenOf(child.pid).find((argv) => argv[1]?.endsWith('sightline-agent.js') === true)?.[1],
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
