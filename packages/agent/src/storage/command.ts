import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs external tools (tpm2-tools, systemctl); passed in so tests can fake them. */
export interface CommandRunner {
  run(
    command: string,
    args: readonly string[],
    options?: { input?: Uint8Array; env?: NodeJS.ProcessEnv; timeoutMs?: number },
  ): Promise<CommandResult>;
}

/** Most bytes read from a tool's stdout or stderr (a sealed key is 32 bytes; capability lists a few KiB). */
const MAX_OUTPUT = 1024 * 1024;

export const processRunner: CommandRunner = {
  run(command, args, options = {}) {
    return new Promise((resolve) => {
      const child = spawn(command, args, {
        env: options.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? 30_000,
      });
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        outBytes += d.length;
        if (outBytes <= MAX_OUTPUT) out.push(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        if (err.length < MAX_OUTPUT) err += d.toString('utf8');
      });
      child.on('error', (e) => resolve({ code: 127, stdout: Buffer.alloc(0), stderr: e.message }));
      child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: err }));
      child.stdin.on('error', () => undefined); // a tool that exits without reading stdin
      child.stdin.end(options.input === undefined ? undefined : Buffer.from(options.input));
    });
  },
};
