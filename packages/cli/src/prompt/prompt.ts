import { createInterface } from 'node:readline/promises';
import { readHidden } from '@sightline/core';
import { CliError, EXIT } from '../errors.js';

/** Most that is read from stdin for `--password-stdin` and friends. */
const MAX_STDIN_BYTES = 64 * 1024;

/** True when a person can answer prompts: stdin and stderr are terminals. */
export function isInteractive(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

const cancelled = (): CliError => new CliError('CANCELLED', 'Cancelled at the prompt.', EXIT.CANCELLED);

/**
 * Asks on the terminal without echoing what is typed (passwords). The
 * question goes to stderr so that stdout stays clean for `--json`.
 */
export function promptHidden(question: string): Promise<string> {
  return readHidden(question, cancelled);
}

/** Asks on the terminal with echo (TOTP codes, confirmations). */
export async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const closed = new Promise<never>((_, reject) => rl.once('SIGINT', () => reject(cancelled())));
  try {
    return (await Promise.race([rl.question(question), closed])).trim();
  } finally {
    rl.close();
  }
}

/** Reads all of stdin, capped at `maxBytes` (64 KiB by default). */
export async function readStdinBytes(maxBytes = MAX_STDIN_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) {
      for (const c of chunks) c.fill(0);
      throw new CliError('INPUT_TOO_LARGE', `More than ${maxBytes} bytes on stdin.`, EXIT.INVALID);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Reads all of stdin (capped) and returns its lines without line endings. */
export async function readStdinLines(): Promise<string[]> {
  return (await readStdinBytes()).toString('utf8').split(/\r?\n/);
}

/** The first `count` lines of stdin; each must be non-empty. */
export async function readSecretLines(count: number, what: string): Promise<string[]> {
  const lines = (await readStdinLines()).slice(0, count);
  if (lines.length < count || lines.some((l) => l === '')) {
    throw new CliError('INPUT_MISSING', `Expected ${what} on stdin, one per line.`, EXIT.USAGE);
  }
  return lines;
}

/**
 * Asks before a disruptive action. `--yes` skips the question; without a
 * terminal to ask on, `--yes` is required (exit 2), so a script never does
 * such a thing by accident. `typeToConfirm`: the answer must be this text
 * (the device name, for what cannot be undone); otherwise y or yes.
 */
export async function confirmAction(options: {
  yes: boolean | undefined;
  /** What will happen, as a sentence: `Deregister device cam-01 in project default: …`. */
  what: string;
  typeToConfirm?: string;
}): Promise<void> {
  if (options.yes === true) return;
  if (!isInteractive()) {
    throw new CliError(
      'CONFIRMATION_REQUIRED',
      `${options.what.replace(/\.$/, '')}. There is no terminal to confirm on; pass --yes to do it.`,
      EXIT.USAGE,
    );
  }
  const expected = options.typeToConfirm;
  const answer = await promptLine(
    `${options.what}\n${expected === undefined ? 'Continue? [y/N] ' : `Type ${JSON.stringify(expected)} to confirm: `}`,
  );
  const ok = expected === undefined ? /^y(es)?$/i.test(answer) : answer === expected;
  if (!ok) throw new CliError('CANCELLED', 'Not confirmed; nothing was done.', EXIT.CANCELLED);
}
