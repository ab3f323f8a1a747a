import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readSync, writeSync } from 'node:fs';
import type { FrameData } from '../frame.js';
import { AppEndpoint, type AppHost, type AppProcess } from './endpoint.js';
import { isLent, lendFrame, returnFrame } from './frame-lease.js';
import { FrameRing } from './frame-ring.js';
import { FrameSlot } from './frame-slot.js';

const W = 4;
const H = 2;
const N = W * H * 3;

function lent(v: number, returned: number[]): FrameData {
  return lendFrame({ width: W, height: H, data: new Uint8Array(N).fill(v), timestamp: v, camera: 'c' }, () => returned.push(v));
}

test('FrameSlot returns the lent frames it drops or holds at close, never the one it hands out', async () => {
  const returned: number[] = [];
  const slot = new FrameSlot();
  slot.offer(lent(1, returned));
  slot.offer(lent(2, returned)); // 1 dropped: back to its lender
  assert.deepEqual(returned, [1]);
  const taken = await slot.take(10);
  assert.equal(taken?.timestamp, 2);
  assert.deepEqual(returned, [1], 'a frame handed out is the taker’s to return');
  assert.ok(taken !== null && isLent(taken));
  returnFrame(taken);
  returnFrame(taken); // once per object
  assert.deepEqual(returned, [1, 2]);
  slot.offer(lent(3, returned));
  slot.close();
  slot.offer(lent(4, returned)); // refused after close: returned at once
  assert.deepEqual(returned, [1, 2, 3, 4]);
  returnFrame({ width: W, height: H, data: new Uint8Array(N), timestamp: 0, camera: 'c' }); // not lent: nothing happens
});

/** An app process driven by hand: messages in, replies out. */
function fakeApp(): AppProcess & { replies: unknown[]; deliver(m: unknown): Promise<void> } {
  const e = new EventEmitter();
  const replies: unknown[] = [];
  return Object.assign(e, {
    connected: true,
    replies,
    send(m: unknown, cb: (err: Error | null) => void): boolean {
      replies.push(m);
      cb(null);
      return true;
    },
    async deliver(m: unknown): Promise<void> {
      e.emit('message', m);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    },
  });
}

function host(slot: FrameSlot, wantsOutput: () => boolean, out: FrameData[]): AppHost {
  return {
    init: () => ({ instance: 'i', parameters: {}, models: {} }),
    getFrame: (_i, t, s) => slot.take(t, s),
    runModel: () => Promise.reject(new Error('no model')),
    putFrame: (_o, f) => void out.push(f),
    wantsOutput,
    storageGet: () => Promise.resolve(null),
    storageSet: () => Promise.resolve(),
    storageDelete: () => Promise.resolve(),
    log: () => undefined,
    metric: () => undefined,
  };
}

test('the endpoint returns a lent frame once it is in the ring, and reads an output only when someone wants it', async () => {
  const ring = await FrameRing.create(['video_in'], ['video_out'], { slotBytes: N });
  try {
    const returned: number[] = [];
    const slot = new FrameSlot();
    const out: FrameData[] = [];
    let wants = false;
    const h = host(slot, () => wants, out);
    const app = fakeApp();
    const endpoint = new AppEndpoint(app, h, { ring });
    await app.deliver({ t: 'hello', id: 1, v: 2, descriptor: { name: 'a', version: '1' } });
    slot.offer(lent(9, returned));
    await app.deliver({ t: 'input.get', id: 2, input: 'video_in', timeoutMs: 100 });
    assert.deepEqual(returned, [9], 'not returned after the copy into the ring');
    const inRing = Buffer.alloc(N);
    readSync(ring.fd, inRing, 0, N, 0);
    assert.ok(inRing.every((b) => b === 9));

    // The app puts a frame in its output slot.
    writeSync(ring.fd, Buffer.alloc(N, 5), 0, N, N);
    const put = { t: 'output.ring', id: 3, output: 'video_out', frame: { width: W, height: H, timestamp: 1, camera: 'c' } };
    await app.deliver(put);
    assert.equal(out.length, 0, 'read although nobody wanted it');
    assert.deepEqual([endpoint.stats.framesOut, endpoint.stats.framesUnread], [1, 1]);
    wants = true;
    await app.deliver({ ...put, id: 4 });
    assert.equal(out.length, 1);
    assert.ok(out[0]?.data.every((b) => b === 5));
    assert.deepEqual([endpoint.stats.framesOut, endpoint.stats.framesUnread], [2, 1]);
    // An unread output is still checked: a frame larger than the slot is refused as a read would be.
    wants = false;
    await app.deliver({ ...put, id: 5, frame: { ...put.frame, width: W * 2 } });
    const last = app.replies.at(-1) as { ok: boolean; error?: { code: string } };
    assert.equal(last.ok, false);
    assert.equal(last.error?.code, 'FRAME_INVALID');
    endpoint.close();
  } finally {
    await ring.close();
  }
});

test('FrameRing.check refuses a slot the app did not fill, as read does', async () => {
  const ring = await FrameRing.create(['in'], ['out'], { slotBytes: N });
  try {
    assert.throws(() => ring.check('out', W, H), { code: 'FRAME_INVALID' });
    assert.throws(() => ring.read('out', W, H), { code: 'FRAME_INVALID' });
    writeSync(ring.fd, Buffer.alloc(N, 1), 0, N, N);
    ring.check('out', W, H);
    assert.throws(() => ring.check('nope', W, H), { code: 'UNKNOWN_OUTPUT' });
    // Grown beyond its layout by the app: cut back, as guard() does.
    writeSync(ring.fd, Buffer.alloc(8), 0, 8, 2 * N + 100);
    ring.check('out', W, H);
    assert.equal(ring.overgrown, 1);
  } finally {
    await ring.close();
  }
});

test('output.ring says whether the pixels are wanted; a frame sent without pixels (skipped) is counted and never read or shown', async () => {
  const ring = await FrameRing.create(['video_in'], ['video_out'], { slotBytes: N });
  try {
    const out: FrameData[] = [];
    let wants = false;
    const app = fakeApp();
    const endpoint = new AppEndpoint(
      app,
      host(new FrameSlot(), () => wants, out),
      { ring },
    );
    await app.deliver({ t: 'hello', id: 1, v: 2, descriptor: { name: 'a', version: '1' } });
    const value = (): unknown => (app.replies.at(-1) as { value?: unknown }).value;
    writeSync(ring.fd, Buffer.alloc(N, 5), 0, N, N);
    const put = { t: 'output.ring', id: 2, output: 'video_out', frame: { width: W, height: H, timestamp: 1, camera: 'c' } };
    await app.deliver(put);
    assert.deepEqual(value(), { wanted: false });
    await app.deliver({ ...put, id: 3, skipped: true });
    assert.deepEqual(value(), { wanted: false });
    // A viewer arrives: the skipped frame is still not read (what is in the slot is an older frame), the reply says wanted.
    wants = true;
    await app.deliver({ ...put, id: 4, skipped: true });
    assert.deepEqual(value(), { wanted: true });
    assert.equal(out.length, 0, 'a skipped frame was shown');
    assert.deepEqual([endpoint.stats.framesOut, endpoint.stats.framesUnread, endpoint.stats.framesSkipped], [3, 3, 2]);
    await app.deliver({ ...put, id: 5 });
    assert.deepEqual(value(), { wanted: true });
    assert.equal(out.length, 1);
    // A skipped frame is still checked against the slot.
    await app.deliver({ ...put, id: 6, skipped: true, frame: { ...put.frame, width: W * 2 } });
    const last = app.replies.at(-1) as { ok: boolean; error?: { code: string } };
    assert.deepEqual([last.ok, last.error?.code], [false, 'FRAME_INVALID']);
    await app.deliver({ ...put, id: 7, skipped: true, output: 'nope' });
    const unknown = app.replies.at(-1) as { ok: boolean; error?: { code: string } };
    assert.deepEqual([unknown.ok, unknown.error?.code], [false, 'UNKNOWN_OUTPUT']);
    endpoint.close();
  } finally {
    await ring.close();
  }
});
