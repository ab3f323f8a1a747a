import { readFile, stat } from 'node:fs/promises';
import { readHidden } from '@sightline/core';
import { AgentError } from '../errors.js';

const MAX_PASSPHRASE_FILE = 4096;

/** Asks on the terminal without echo; the question goes to stderr so stdout stays clean for --json. */
export function promptHidden(
  question: string,
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WriteStream = process.stderr,
): Promise<string> {
  return readHidden(question, () => new AgentError('PASSPHRASE_MISSING', 'Cancelled at the prompt.'), input, output);
}

/**
 * The archive passphrase: --passphrase-file, else SIGHTLINE_ARCHIVE_PASSPHRASE,
 * else a no-echo prompt when a person is at a terminal.
 */
export async function resolvePassphrase(file: string | undefined, envValue: string | undefined): Promise<string> {
  if (file !== undefined) {
    let text: string;
    try {
      if ((await stat(file)).size > MAX_PASSPHRASE_FILE)
        throw new AgentError('PASSPHRASE_MISSING', `${file} is too large to be a passphrase file.`);
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw new AgentError('PASSPHRASE_MISSING', `The passphrase file ${file} cannot be read.`, { cause: err });
    }
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new AgentError('PASSPHRASE_MISSING', `The passphrase file ${file} is empty.`);
    return value;
  }
  if (envValue !== undefined) return envValue;
  if (process.stdin.isTTY === true && process.stderr.isTTY === true) {
    const value = await promptHidden('Archive passphrase: ');
    if (value === '') throw new AgentError('PASSPHRASE_MISSING', 'No passphrase entered.');
    return value;
  }
  throw new AgentError(
    'PASSPHRASE_MISSING',
    'No passphrase: pass --passphrase-file FILE, set SIGHTLINE_ARCHIVE_PASSPHRASE, or run at a terminal to be asked.',
  );
}
