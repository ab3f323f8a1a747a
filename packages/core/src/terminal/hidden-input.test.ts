import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { readHidden } from './hidden-input.js';

/** A stand-in terminal: a stream that records its raw-mode switches. */
function terminal(): {
  input: PassThrough & { setRawMode(mode: boolean): void };
  modes: boolean[];
  written: () => string;
  output: { write(t: string): void };
} {
  const modes: boolean[] = [];
  const input = Object.assign(new PassThrough(), { setRawMode: (mode: boolean) => void modes.push(mode) });
  let text = '';
  return { input, modes, written: () => text, output: { write: (t: string) => void (text += t) } };
}

test('readHidden returns the line typed, applies Backspace, never echoes, and leaves raw mode', async () => {
  const t = terminal();
  const answer = readHidden('Passphrase: ', () => new Error('cancelled'), t.input, t.output);
  t.input.write('s3cr\u007fret-ë\rignored');
  assert.equal(await answer, 's3cret-ë');
  assert.equal(t.written(), 'Passphrase: \n');
  assert.deepEqual(t.modes, [true, false]);
});

test("readHidden rejects with the caller's error on Ctrl-C and on Ctrl-D at an empty line", async () => {
  for (const key of ['ab\u0003', '\u0004']) {
    const t = terminal();
    const answer = readHidden('Q: ', () => new Error(`cancelled ${JSON.stringify(key)}`), t.input, t.output);
    t.input.write(key);
    await assert.rejects(answer, { message: `cancelled ${JSON.stringify(key)}` });
    assert.deepEqual(t.modes, [true, false]);
  }
});
