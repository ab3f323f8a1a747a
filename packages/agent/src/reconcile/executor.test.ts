import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceClient, JobStatus } from '../client/device-client.js';
import { systemClock } from '../clock.js';
import { AgentError } from '../errors.js';
import { AgentLogger } from '../logs/logger.js';
import { emptyState, type AgentState } from '../storage/records.js';
import { Executor, type ExecutorDeps } from './executor.js';
import type { Runtime } from './runtime.js';

function harness(o: { rebootFails?: boolean; reportFails?: boolean } = {}) {
  const calls: string[] = [];
  let state: AgentState = emptyState();
  const client = {
    updateJob: (id: string, status: JobStatus, message?: string) => {
      calls.push(`report ${id} ${status}${message === undefined ? '' : ` ${message}`}`);
      if (o.reportFails === true) return Promise.reject(new AgentError('CONTROL_PLANE_UNREACHABLE', 'down'));
      return Promise.resolve();
    },
  } as unknown as DeviceClient;
  const runtime: Runtime = {
    reboot: () => {
      calls.push('reboot');
      return o.rebootFails === true ? Promise.reject(new Error('Access denied')) : Promise.resolve();
    },
    shutdown: () => {
      calls.push('shutdown');
      return Promise.resolve();
    },
    bootId: () => 'boot-7',
  };
  const ex = new Executor({
    client: () => client,
    runtime,
    logger: new AgentLogger({ clock: systemClock, sink: () => undefined }),
    updateState: (fn) => {
      const next = structuredClone(state);
      fn(next);
      state = next;
      return Promise.resolve();
    },
    fullReset: () => {
      calls.push('fullReset');
      return Promise.resolve();
    },
    now: () => Date.parse('2030-01-01T00:00:00Z'),
  });
  return { ex, calls, state: () => state };
}

const reboot = { id: 'j1', kind: 'reboot' as const, createdAt: '2030-01-01T00:00:00Z' };

test('a reboot job: running is reported before anything happens, progress is recorded, then systemd is asked', async () => {
  const h = harness();
  assert.equal(await h.ex.execute([{ kind: 'startJob', job: reboot }]), 'continue');
  assert.deepEqual(h.calls, ['report j1 running', 'reboot']);
  assert.deepEqual(h.state().jobs.j1, {
    kind: 'reboot',
    phase: 'started',
    bootId: 'boot-7',
    startedAt: '2030-01-01T00:00:00.000Z',
    reported: false,
  });
});

test('if running cannot be reported, nothing is done (the step is retried later)', async () => {
  const h = harness({ reportFails: true });
  await assert.rejects(h.ex.execute([{ kind: 'startJob', job: reboot }]));
  assert.deepEqual(h.calls, ['report j1 running']);
  assert.deepEqual(h.state().jobs, {});
});

test('a reboot systemd refuses is reported failed with the reason', async () => {
  const h = harness({ rebootFails: true });
  await h.ex.execute([{ kind: 'startJob', job: reboot }]);
  assert.deepEqual(h.calls, ['report j1 running', 'reboot', 'report j1 failed Access denied']);
  assert.equal(h.state().jobs.j1?.result, 'failed');
  assert.equal(h.state().jobs.j1?.reported, true);
});

test('a reset job reports running, then crypto-erases; nothing runs after it', async () => {
  const h = harness();
  const outcome = await h.ex.execute([
    { kind: 'startJob', job: { id: 'r', kind: 'reset', createdAt: '2030-01-01T00:00:00Z' } },
    { kind: 'forgetJob', jobId: 'never' },
  ]);
  assert.equal(outcome, 'reset');
  assert.deepEqual(h.calls, ['report r running', 'fullReset']);
});

test('reports and forgets update the recorded state', async () => {
  const h = harness();
  await h.ex.execute([{ kind: 'startJob', job: reboot }]);
  await h.ex.execute([{ kind: 'reportJob', jobId: 'j1', status: 'succeeded', message: 'the device rebooted' }]);
  assert.deepEqual(
    { ...h.state().jobs.j1 },
    {
      kind: 'reboot',
      phase: 'done',
      bootId: 'boot-7',
      startedAt: '2030-01-01T00:00:00.000Z',
      result: 'succeeded',
      message: 'the device rebooted',
      reported: true,
    },
  );
  await h.ex.execute([{ kind: 'forgetJob', jobId: 'j1' }]);
  assert.deepEqual(h.state().jobs, {});
});

test('an update job goes to the update path; an installed release asks for the restart into the trial', async () => {
  const h = harness();
  const calls: string[] = [];
  const ex = new Executor({
    ...(h.ex as unknown as { d: ExecutorDeps }).d,
    update: {
      start: (id, version) => (calls.push(`start ${id} ${version}`), Promise.resolve('restart')),
      finish: (id) => (calls.push(`finish ${id}`), Promise.resolve()),
    },
  });
  const upd = {
    id: 'u1',
    kind: 'update' as const,
    createdAt: '2030-01-01T00:00:00Z',
    params: { version: '1.2.0', target: 'sightline-agent-1.2.0.tar' },
  };
  assert.equal(
    await ex.execute([
      { kind: 'startJob', job: upd },
      { kind: 'forgetJob', jobId: 'x' },
    ]),
    'restart',
  );
  assert.equal(await ex.execute([{ kind: 'finishUpdate', jobId: 'u1' }]), 'continue');
  assert.deepEqual(calls, ['start u1 1.2.0', 'finish u1']);
  assert.deepEqual(h.calls, [], 'no generic job report, no reboot');
  assert.deepEqual(h.state().jobs, {});
});
