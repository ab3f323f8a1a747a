import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/local/sbin'];

/** An executable from the system folders (the agent's PATH is not trusted for this), or null. */
export async function findTool(name: string): Promise<string | null> {
  for (const dir of TOOL_DIRS) {
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // next folder
    }
  }
  return null;
}

/**
 * Runs a short system command (mount, mkfs, bwrap trial) without a shell;
 * resolves with stdout, rejects with the command and its stderr's first line.
 */
export function run(
  command: string,
  args: readonly string[],
  options: { uid?: number; gid?: number; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      {
        env: { PATH: TOOL_DIRS.join(':'), LC_ALL: 'C' },
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 1024 * 1024,
        ...(options.uid !== undefined ? { uid: options.uid } : {}),
        ...(options.gid !== undefined ? { gid: options.gid } : {}),
      },
      (err, stdout, stderr) => {
        if (err === null) return resolve(stdout);
        const why = (stderr.trim().split('\n')[0] ?? '') || err.message;
        reject(new Error(`${command.split('/').pop() ?? command} failed: ${why.slice(0, 200)}`, { cause: err }));
      },
    );
  });
}
