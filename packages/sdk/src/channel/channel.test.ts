import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readSync } from 'node:fs';
import { SightlineError } from '@sightline/core';
import { defineApp, runApp } from '../app.js';
import { AppEndpoint, type AppHost } from '../agent/endpoint.js';
import { FrameRing } from '../agent/frame-ring.js';
import { FrameSlot } from '../agent/frame-slot.js';
import { SdkError } from '../errors.js';
import { Frame, type FrameData } from '../frame.js';
import { IpcAppChannel, type IpcPort } from './ipc.js';
import { LIMITS } from './messages.js';

/** Two in-memory IPC ends that copy messages the way the V8 serializer does. */
function pipePair() {
  const app = new EventEmitter() as EventEmitter & { connected: boolean; send: NonNullable<IpcPort['send']>; disconnect(): void };
  const agent = new EventEmitter() as EventEmitter & { connected: boolean; send(m: unknown, cb: (e: Error | null) => void): boolean };
  app.connected = agent.connected = true;
  app.send = (m, _h, _o, cb) => {
    setImmediate(() => agent.emit('message', structuredClone(m)));
    cb?.(null);
    return true;
  };
  agent.send = (m, cb) => {
    setImmediate(() => app.emit('message', structuredClone(m)));
    cb(null);
    return true;
  };
  app.disconnect = () => {
    app.connected = agent.connected = false;
    app.emit('disconnect');
    agent.emit('disconnect');
  };
  return { app, agent };
}

const descriptor = {
  name: 'chan',
  version: '1.0.0',
  entry: 'src/app.ts',
  resources: { memoryMiB: 64, cpuShare: 1, diskMiB: 1 },
  parameters: { gain: { type: 'number', default: 1, overridable: true } },
  inputs: { video_in: { type: 'video' } },
  outputs: { video_out: { type: 'video' } },
  models: { m: { package: 'm' } },
} as const;

class BusyError extends SightlineError<'MODEL_BUSY'> {}

function host(
  slot: FrameSlot,
  out: FrameData[],
  extra: Partial<AppHost> = {},
): AppHost & { logs: string[]; metrics: Map<string, number>; store: Map<string, string> } {
  const logs: string[] = [];
  const metrics = new Map<string, number>();
  const store = new Map<string, string>();
  return {
    logs,
    metrics,
    store,
    init: () => ({
      instance: 'i-1',
      parameters: { gain: 2 },
      models: { m: { input: { name: 'x', shape: [1, 2, 2, 3], layout: 'NHWC' }, outputs: ['y'] } },
    }),
    getFrame: (_input, timeoutMs, signal) => slot.take(timeoutMs, signal),
    runModel: (_model, input) => Promise.resolve({ y: input.map((v) => v * 2) }),
    putFrame: (_output, f) => void out.push(f),
    storageGet: (k) => Promise.resolve(store.get(k) ?? null),
    storageSet: (k, v) => Promise.resolve(void store.set(k, v)),
    storageDelete: (k) => Promise.resolve(void store.delete(k)),
    log: (level, message) => logs.push(`${level}:${message}`),
    metric: (name, n) => metrics.set(name, (metrics.get(name) ?? 0) + n),
    ...extra,
  };
}

test('an app over the IPC channel: init, frames, model, storage, logs, metrics, stop', async () => {
  const { app: appPort, agent: agentPort } = pipePair();
  const slot = new FrameSlot();
  const out: FrameData[] = [];
  const h = host(slot, out);
  const endpoint = new AppEndpoint(agentPort, h);
  const seen: unknown[] = [];
  const app = defineApp({
    descriptor,
    async run(ctx) {
      seen.push(ctx.instance, ctx.parameters.gain, ctx.models.m.input?.shape);
      seen.push([...(await ctx.models.m.run(new Float32Array([1, 2]))).y!]);
      await ctx.storage.set('k', 'v');
      seen.push(await ctx.storage.get('k'));
      ctx.log.info('hello');
      while (!ctx.signal.aborted) {
        const f = await ctx.inputs.video_in.get({ timeoutMs: 50 });
        if (f === null) continue;
        f.addRect(0, 0, 2, 2, { thickness: 1 });
        ctx.metrics.count('frames');
        await ctx.outputs.video_out.put(f);
      }
    },
  });
  const channel = new IpcAppChannel(appPort);
  const done = runApp(app, channel);
  slot.offer(Frame.blank(4, 4, { camera: 'c' }));
  while (out.length === 0) await new Promise((r) => setTimeout(r, 5));
  endpoint.stop();
  await done;
  assert.deepEqual(seen, ['i-1', 2, [1, 2, 2, 3], [2, 4], 'v']);
  assert.equal(out.length, 1);
  assert.deepEqual([...out[0]!.data.subarray(0, 3)], [0, 255, 0]); // overlay drawn before it left the app
  assert.deepEqual(h.logs, ['info:hello']);
  assert.equal(h.metrics.get('frames'), 1);
  assert.deepEqual(endpoint.stats.protocolErrors, 0);
});

test('agent errors reach the app with their code; unknown ones as PROTOCOL_ERROR', async () => {
  const { app: appPort, agent: agentPort } = pipePair();
  const h = host(new FrameSlot(), [], {
    runModel: (model) => Promise.reject(model === 'm' ? new BusyError('MODEL_BUSY', 'busy') : new Error('secret detail')),
  });
  new AppEndpoint(agentPort, h);
  const channel = new IpcAppChannel(appPort);
  await channel.hello({ name: 'x', version: '1.0.0' });
  await assert.rejects(channel.runModel('m', new Float32Array(1)), (e: unknown) => e instanceof SdkError && e.code === 'MODEL_BUSY');
  await assert.rejects(
    channel.runModel('other', new Float32Array(1)),
    (e: unknown) => e instanceof SdkError && e.code === 'PROTOCOL_ERROR' && !/secret/.test(e.message),
  );
  channel.close();
});

test('the agent refuses requests before hello and beyond the in-flight cap', async () => {
  const { app: appPort, agent: agentPort } = pipePair();
  const slot = new FrameSlot();
  const endpoint = new AppEndpoint(agentPort, host(slot, []));
  const channel = new IpcAppChannel(appPort);
  await assert.rejects(channel.storageGet('k'), { code: 'PROTOCOL_ERROR' });
  await channel.hello({ name: 'x', version: '1.0.0' });
  const gets = Array.from({ length: LIMITS.pendingRequests + 1 }, () => channel.getFrame('video_in', 1000));
  await assert.rejects(gets.at(-1)!, { code: 'PROTOCOL_ERROR' });
  endpoint.stop(); // the waiting gets return null
  assert.deepEqual(await Promise.all(gets.slice(0, -1)), new Array(LIMITS.pendingRequests).fill(null));
  assert.equal(endpoint.stats.protocolErrors, 2);
  channel.close();
});

test('a closed channel fails what waits with CHANNEL_CLOSED and aborts the stop signal', async () => {
  const { app: appPort, agent: agentPort } = pipePair();
  new AppEndpoint(agentPort, host(new FrameSlot(), []));
  const channel = new IpcAppChannel(appPort);
  await channel.hello({ name: 'x', version: '1.0.0' });
  const pending = channel.getFrame('video_in', 10_000);
  appPort.disconnect();
  await assert.rejects(pending, { code: 'CHANNEL_CLOSED' });
  assert.equal(channel.stopSignal.aborted, true);
  await assert.rejects(channel.storageGet('k'), { code: 'CHANNEL_CLOSED' });
  assert.throws(() => new IpcAppChannel(new EventEmitter()), { code: 'CHANNEL_CLOSED' });
});

test('FrameSlot keeps only the latest frame and counts the dropped ones', async () => {
  const slot = new FrameSlot();
  const f = (t: number) => Frame.blank(1, 1, { timestamp: t });
  slot.offer(f(1));
  slot.offer(f(2));
  slot.offer(f(3));
  assert.equal((await slot.take(0))!.timestamp, 3);
  assert.equal(slot.dropped, 2);
  assert.equal(await slot.take(0), null);
  const waiting = slot.take(1000);
  slot.offer(f(4));
  assert.equal((await waiting)!.timestamp, 4);
  assert.equal(await slot.take(10), null); // timeout
  const ac = new AbortController();
  const aborted = slot.take(1000, ac.signal);
  ac.abort();
  assert.equal(await aborted, null);
  slot.close();
  slot.offer(f(5));
  assert.equal(await slot.take(1000), null);
  assert.equal(slot.delivered, 2);
});

test('put through the ring: while the agent says nobody wants an output, its pixels are not written, and they are again once someone does', async () => {
  const { app: appPort, agent: agentPort } = pipePair();
  const ring = await FrameRing.create(['video_in'], ['video_out'], { slotBytes: 2 * 2 * 3 });
  // In one process the app's descriptor for the ring is the agent's own (an app process gets it as fd 4).
  const send = agentPort.send.bind(agentPort);
  agentPort.send = (m, cb) => {
    const t = (m as { value?: { transport?: { ring?: { fd: number } } } }).value?.transport?.ring;
    if (t !== undefined) t.fd = ring.fd;
    return send(m, cb);
  };
  try {
    const out: FrameData[] = [];
    let wants = false;
    const endpoint = new AppEndpoint(agentPort, host(new FrameSlot(), out, { wantsOutput: () => wants }), { ring });
    const channel = new IpcAppChannel(appPort);
    await channel.hello({ name: 'x', version: '1.0.0' });
    const slot = (): number[] => {
      const b = Buffer.alloc(12);
      readSync(ring.fd, b, 0, 12, 12);
      return [...b];
    };
    const frame = (v: number): FrameData => ({ width: 2, height: 2, data: new Uint8Array(12).fill(v), timestamp: v, camera: 'c' });
    await channel.putFrame('video_out', frame(1)); // written: nothing was said yet
    assert.deepEqual(slot(), Array(12).fill(1));
    await channel.putFrame('video_out', frame(2)); // the reply to 1 said unwanted: not written
    await channel.putFrame('video_out', frame(3));
    assert.deepEqual(slot(), Array(12).fill(1), 'pixels written although nobody wanted them');
    wants = true;
    await channel.putFrame('video_out', frame(4)); // still skipped (the last reply said unwanted); this reply says wanted
    assert.equal(out.length, 0);
    await channel.putFrame('video_out', frame(5));
    assert.deepEqual(slot(), Array(12).fill(5));
    assert.deepEqual(
      out.map((f) => f.data[0]),
      [5],
    );
    assert.deepEqual([endpoint.stats.framesOut, endpoint.stats.framesSkipped], [5, 3]);
    channel.close();
  } finally {
    await ring.close();
  }
});
