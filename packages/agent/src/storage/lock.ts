import { open, readFile, rm } from 'node:fs/promises';
import { AgentError } from '../errors.js';
import { layout } from './data-dir.js';

/** Locks this process holds: a lock file naming our own pid is ours only if it is in here (else it is stale, left by a
 * process that had our pid before, e.g. in an earlier boot). */
const held = new Set<string>();

/** Whether a process with this pid exists (EPERM: it does, it is just not ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One agent process per data folder: `start` holds the lock while it runs;
 * `register` and `reset` take it too, so a reset cannot wipe the folder under
 * a running agent (which would write its state back into it).
 */
export async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const file = layout(dataDir).lock;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      held.add(file);
      return async () => {
        held.delete(file);
        await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    const live = pid === process.pid ? held.has(file) : Number.isInteger(pid) && pid > 0 && processAlive(pid);
    if (live) {
      throw new AgentError(
        'AGENT_RUNNING',
        `An agent (pid ${pid}) is running on this data folder; stop it first (systemctl stop sightline-agent).`,
        {
          details: { pid },
        },
      );
    }
    await rm(file, { force: true }); // stale: its process is gone
  }
  throw new AgentError('AGENT_RUNNING', `Cannot take the lock ${file}; another process keeps creating it.`);
}

/** The pid of a running agent on this folder, if any. */
export async function runningAgentPid(dataDir: string): Promise<number | undefined> {
  const file = layout(dataDir).lock;
  const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
  if (pid === process.pid) return held.has(file) ? pid : undefined;
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
}
