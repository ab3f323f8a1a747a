import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { FfmpegDecoder, readerPair, type Spawner } from './decoder.js';
import { FramePool } from './frame-pool.js';

const W = 64;
const H = 48;
const N = W * H * 3;

/** A stand-in for ffmpeg: a real process that writes `frames` frames (frame i filled with i) in odd-sized writes. */
function writer(frames: number, used: { stdout: Socket | undefined }): Spawner {
  const script = `
    const N = ${N}; const all = Buffer.alloc(N * ${frames});
    for (let i = 0; i < ${frames}; i++) all.fill(i + 1, i * N, (i + 1) * N);
    let off = 0;
    const step = () => { if (off >= all.length) return; const n = Math.min(777 + (off % 5000), all.length - off);
      process.stdout.write(all.subarray(off, off + n), step); off += n; };
    step();`;
  return (_cmd, _args, stdout) => {
    used.stdout = stdout;
    return spawn(process.execPath, ['-e', script], { stdio: ['pipe', stdout ?? 'pipe', 'pipe'] });
  };
}

async function decode(direct: boolean): Promise<{ values: number[]; kept: Buffer | undefined; pool: FramePool; used: Socket | undefined }> {
  const used: { stdout: Socket | undefined } = { stdout: undefined };
  const pool = new FramePool(N, 4);
  const d = new FfmpegDecoder({ ffmpegPath: 'ffmpeg', input: { kind: 'h264-pipe' }, width: W, height: H, pool }, writer(30, used));
  if (direct) await d.prepare();
  const values: number[] = [];
  let kept: Buffer | undefined;
  const exited = new Promise<void>((r) => (d.onExit = () => r()));
  d.onFrame = (data, hold) => {
    assert.ok(
      data.every((b) => b === data[0]),
      `frame ${values.length} is torn`,
    );
    values.push(data[0] ?? -1);
    if (values.length === 3)
      kept = data; // kept: never released
    else hold.release();
  };
  d.start();
  await exited;
  await new Promise((r) => setTimeout(r, 100)); // output read after 'exit'
  await d.stop();
  return { values, kept, pool, used: used.stdout };
}

test('frames arrive whole and in order through the pipe and through the direct socket; a kept one is never overwritten', async () => {
  for (const direct of [false, true]) {
    const { values, kept, pool, used } = await decode(direct);
    assert.equal(used !== undefined, direct, 'the socket was (not) handed to the process');
    assert.deepEqual(
      values,
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    assert.ok(
      kept?.every((b) => b === 3),
      'the kept frame changed',
    );
    assert.ok(pool.reused >= 20, `buffers were not reused (${pool.allocated} allocated)`);
  }
});

test("the stdout socket pair: a stranger's connection (wrong token, or none) is dropped; only ours gets the pixels", async () => {
  const got: number[] = [];
  const buf = new Uint8Array(64);
  const closed: Promise<void>[] = [];
  const { ours, theirs } = await readerPair(
    {
      buffer: () => buf,
      callback: (n) => {
        got.push(...buf.subarray(0, n));
        return true;
      },
    },
    async (path) => {
      // Two strangers reach the listener before we do: one sends a guess, one sends nothing.
      for (const guess of [Buffer.alloc(16, 7), undefined]) {
        const s = connect(path);
        s.on('error', () => undefined);
        await new Promise<void>((r) => s.once('connect', () => r()));
        if (guess !== undefined) s.write(guess);
        closed.push(new Promise((r) => s.once('close', () => r())));
      }
    },
  );
  try {
    // Both dropped, not left waiting.
    const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a stranger was left connected')), 5000).unref());
    await Promise.race([Promise.all(closed), late]);
    theirs.write(Buffer.from([1, 2, 3]));
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [1, 2, 3]);
  } finally {
    ours.destroy();
    theirs.destroy();
  }
});
