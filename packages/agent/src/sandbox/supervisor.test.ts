import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { Clock } from '../clock.js';
import { NodeSupervisor } from './supervisor.js';
import type { AppliedLayers, ExitReason, SandboxedProcessLike, SupervisorEvent } from './types.js';

const layers: AppliedLayers = {
  namespaces: true,
  networkIsolated: true,
  uid: 61000,
  gid: 61000,
  cgroup: 'v1',
  niced: false,
  diskQuota: 'loop-image',
};

/** A clock whose sleeps end at once (recorded) unless held; time moves only when told. */
function fakeClock(): Clock & { slept: number[]; t: number; hold: boolean } {
  const c = {
    slept: [] as number[],
    t: 0,
    hold: false,
    now: () => c.t,
    sleep: (ms: number, signal?: AbortSignal) => {
      c.slept.push(ms);
      if (!c.hold) return Promise.resolve();
      return new Promise<void>((r) => signal?.addEventListener('abort', () => r(), { once: true }));
    },
  };
  return c;
}

/** A process that ends with `reason` when told (or at once). */
function fakeProcess(reason: ExitReason | null): SandboxedProcessLike & { end(r: ExitReason): void; stopped: boolean } {
  let end: (r: ExitReason) => void = () => undefined;
  const exited = new Promise<ExitReason>((r) => (end = r));
  const p = {
    child: {} as ChildProcess,
    pid: 4242,
    layers,
    exited,
    stopped: false,
    end: (r: ExitReason) => end(r),
    stop: () => {
      p.stopped = true;
      end({ kind: 'stopped' });
      return exited;
    },
  };
  if (reason !== null) end(reason);
  return p;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(check(), 'condition never held');
}

test('restarts with exponential backoff and jitter, capped, then gives up after maxRestarts', async () => {
  const clock = fakeClock();
  const events: SupervisorEvent[] = [];
  let launches = 0;
  const sup = new NodeSupervisor(
    'blur',
    () => {
      launches++;
      return Promise.resolve(fakeProcess({ kind: 'memory quota' }));
    },
    { restart: { baseMs: 1000, maxMs: 3000, maxRestarts: 3 }, onEvent: (e) => events.push(e) },
    clock,
    () => 1, // the top of each jitter range
  );
  sup.start();
  await until(() => sup.state === 'failed');
  assert.equal(launches, 4);
  assert.deepEqual(clock.slept, [1000, 2000, 3000]);
  assert.deepEqual(
    events.map((e) => (e.type === 'exited' ? `exited:${e.restartInMs}` : e.type)),
    ['started', 'exited:1000', 'started', 'exited:2000', 'started', 'exited:3000', 'started', 'exited:null'],
  );
  assert.deepEqual(sup.status(), { node: 'blur', state: 'failed', restarts: 3, lastExit: 'memory quota' });
});

test('a run that lasted resets the backoff; jitter keeps at least half the delay', async () => {
  const clock = fakeClock();
  let n = 0;
  const procs: Array<ReturnType<typeof fakeProcess>> = [];
  const sup = new NodeSupervisor(
    'n',
    () => {
      const p = fakeProcess(null);
      procs.push(p);
      n++;
      return Promise.resolve(p);
    },
    { restart: { baseMs: 100, maxMs: 10_000, resetAfterMs: 5000 } },
    clock,
    () => 0,
  );
  sup.start();
  await until(() => procs.length === 1);
  procs[0]!.end({ kind: 'code', code: 1 });
  await until(() => procs.length === 2);
  procs[1]!.end({ kind: 'code', code: 1 });
  await until(() => procs.length === 3);
  clock.t += 6000; // this one ran long enough
  procs[2]!.end({ kind: 'signal', signal: 'SIGSEGV' });
  await until(() => procs.length === 4);
  assert.deepEqual(clock.slept, [50, 100, 50]);
  assert.equal(sup.status().lastExit, 'signal SIGSEGV');
  await sup.stop();
  assert.equal(procs[3]!.stopped, true);
  assert.equal(n, 4);
});

test('a failed start is reported and retried; stop() during the backoff ends it for good', async () => {
  const clock = fakeClock();
  clock.hold = true;
  const events: SupervisorEvent[] = [];
  let launches = 0;
  const sup = new NodeSupervisor(
    'n',
    () => {
      launches++;
      return Promise.reject(new Error('cgroup refused'));
    },
    { onEvent: (e) => events.push(e) },
    clock,
    () => 0.5,
  );
  sup.start();
  await until(() => events.length === 1);
  assert.equal(events[0]!.type, 'start-failed');
  assert.equal(sup.state, 'restarting');
  assert.match(sup.status().lastExit ?? '', /cgroup refused/);
  await sup.stop();
  assert.equal(sup.state, 'stopped');
  assert.deepEqual(
    events.map((e) => e.type),
    ['start-failed', 'stopped'],
  );
  assert.equal(launches, 1);
});

test('restart(): the process is ended and started again at once, with no backoff and no failure counted', async () => {
  const clock = fakeClock();
  const events: SupervisorEvent[] = [];
  const procs: ReturnType<typeof fakeProcess>[] = [];
  const sup = new NodeSupervisor(
    'blur',
    () => {
      const p = fakeProcess(null);
      procs.push(p);
      return Promise.resolve(p);
    },
    { restart: { baseMs: 1000, maxMs: 3000, maxRestarts: 1 }, onEvent: (e) => events.push(e) },
    clock,
    () => 1, // the top of each jitter range
  );
  sup.start();
  await until(() => sup.state === 'running');
  sup.restart();
  await until(() => procs.length === 2 && sup.state === 'running');
  assert.equal(procs[0]?.stopped, true, 'the first process was asked to stop');
  assert.deepEqual(clock.slept, [], 'no backoff before the new start');
  assert.equal(sup.restarts, 1);
  // A crash after it still gets its one allowed restart (restart() did not count as a failure).
  procs[1]?.end({ kind: 'code', code: 1 });
  await until(() => procs.length === 3 && sup.state === 'running');
  assert.deepEqual(clock.slept, [1000]);
  assert.deepEqual(
    events.map((e) => (e.type === 'exited' ? `exited:${e.restartInMs}` : e.type)),
    ['started', 'exited:0', 'started', 'exited:1000', 'started'],
  );
  await sup.stop();
  sup.restart(); // after stop(): nothing starts again
  await new Promise((r) => setImmediate(r));
  assert.equal(procs.length, 3);
  assert.equal(sup.state, 'stopped');
});
