/** The terminal side of a hidden prompt: what `readHidden` needs of stdin (a TTY in raw mode). */
export interface HiddenInput {
  setEncoding(encoding: BufferEncoding): unknown;
  setRawMode(mode: boolean): unknown;
  resume(): unknown;
  pause(): unknown;
  on(event: 'data', listener: (chunk: string) => void): unknown;
  off(event: 'data', listener: (chunk: string) => void): unknown;
}

/**
 * Asks on a terminal without echoing what is typed (passwords, passphrases).
 * The question goes to `output` (stderr by default) so that stdout stays
 * clean for `--json`. Enter ends the answer; Ctrl-C, or Ctrl-D on an empty
 * line, rejects with `cancelled()`; Backspace removes one character.
 *
 * @example
 * const pass = await readHidden('Passphrase: ', () => new MyError('CANCELLED', 'Cancelled at the prompt.'));
 */
export function readHidden(
  question: string,
  cancelled: () => Error,
  input: HiddenInput = process.stdin,
  output: { write(text: string): unknown } = process.stderr,
): Promise<string> {
  output.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: Error): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (err === undefined) resolve(value);
      else reject(err);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(cancelled()); // Ctrl-C, Ctrl-D
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    input.setEncoding('utf8');
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}
