/**
 * Runs several `sightline` command lines one after another in one process
 * (the CLI's `run`, as main.ts calls it), so a test can check many offline
 * verifications without paying a Node start-up for each. Reads
 * `{ runs: [{ args, env, input? }] }` on stdin; writes `[{ code, stdout, stderr }]`.
 * `input` is what the run reads as its stdin (not a terminal), as `runCli`'s.
 */
import { Readable } from 'node:stream';
import { run } from '../src/program.js';

const chunks: Buffer[] = [];
for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
const { runs } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
  runs: { args: string[]; env: Record<string, string>; input?: string }[];
};

const out = process.stdout.write.bind(process.stdout);
const text = (s: string | Uint8Array): string => (typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));
const results: { code: number; stdout: string; stderr: string }[] = [];
for (const { args, env, input } of runs) {
  // Each run gets a stdin of its own (process.stdin is a configurable getter).
  Object.defineProperty(process, 'stdin', { value: Readable.from([Buffer.from(input ?? '')]), configurable: true });
  let stdout = '';
  let stderr = '';
  process.stdout.write = (s: string | Uint8Array) => ((stdout += text(s)), true);
  process.stderr.write = (s: string | Uint8Array) => ((stderr += text(s)), true);
  process.exitCode = undefined;
  const code = await run(['node', 'sightline', ...args], env);
  results.push({ code, stdout, stderr });
}
process.exitCode = 0;
out(JSON.stringify(results));
