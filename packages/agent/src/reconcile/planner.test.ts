import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DesiredState } from '../client/device-client.js';
import type { JobRecord } from '../storage/records.js';
import { REBOOT_GRACE_MS, plan, type CurrentState } from './planner.js';

const NOW = Date.parse('2030-01-01T12:00:00Z');
const desired = (jobs: DesiredState['jobs']): DesiredState => ({ etag: '"1"', device: 'cam-01', project: 'p', jobs, apps: [] });
const job = (id: string, kind: 'reboot' | 'shutdown' | 'reset', createdAt = '2030-01-01T00:00:00Z') => ({ id, kind, createdAt });
const current = (over: Partial<CurrentState> = {}): CurrentState => ({
  integrity: 'verified',
  bootId: 'boot-1',
  jobs: {},
  runningApps: [],
  now: NOW,
  ...over,
});
const rec = (r: Partial<JobRecord> & Pick<JobRecord, 'kind' | 'phase'>): JobRecord => ({ reported: false, ...r });

test('nothing to do: no steps', () => {
  assert.deepEqual(plan(current(), desired([])), []);
});

test('new jobs start one at a time, oldest first', () => {
  const steps = plan(current(), desired([job('b', 'shutdown', '2030-01-01T00:00:02Z'), job('a', 'reboot', '2030-01-01T00:00:01Z')]));
  assert.deepEqual(steps, [{ kind: 'startJob', job: job('a', 'reboot', '2030-01-01T00:00:01Z') }]);
});

test('a reboot started in an earlier boot succeeded; in this boot it is awaited, then failed after the grace period', () => {
  const started = (at: number) => ({
    r1: rec({ kind: 'reboot', phase: 'started', bootId: 'boot-0', startedAt: new Date(at).toISOString() }),
  });
  assert.deepEqual(plan(current({ jobs: started(NOW - 60_000) }), desired([job('r1', 'reboot')])), [
    { kind: 'reportJob', jobId: 'r1', status: 'succeeded', message: 'the device rebooted' },
  ]);
  const sameBoot = (at: number) => ({
    r1: rec({ kind: 'reboot', phase: 'started', bootId: 'boot-1', startedAt: new Date(at).toISOString() }),
  });
  assert.deepEqual(plan(current({ jobs: sameBoot(NOW - 60_000) }), desired([job('r1', 'reboot')])), [], 'still rebooting: wait');
  assert.deepEqual(
    plan(current({ jobs: sameBoot(NOW - 60_000) }), desired([job('r1', 'reboot'), job('s2', 'shutdown', '2030-01-01T00:00:09Z')])),
    [],
    'and start nothing else meanwhile',
  );
  const late = plan(current({ jobs: sameBoot(NOW - REBOOT_GRACE_MS - 1) }), desired([job('r1', 'reboot')]));
  assert.equal(late.length, 1);
  assert.deepEqual({ ...late[0], message: undefined }, { kind: 'reportJob', jobId: 'r1', status: 'failed', message: undefined });
});

test('a shutdown judged by the boot id too; a newer job waits behind an unreported older one only for its report', () => {
  const steps = plan(
    current({
      jobs: { s1: rec({ kind: 'shutdown', phase: 'started', bootId: 'boot-0', startedAt: new Date(NOW - 3_600_000).toISOString() }) },
    }),
    desired([job('s1', 'shutdown', '2030-01-01T00:00:00Z'), job('r2', 'reboot', '2030-01-01T00:00:05Z')]),
  );
  assert.deepEqual(
    steps.map((s) => s.kind),
    ['reportJob', 'startJob'],
  );
});

test('a finished but unreported job is reported once; a reported one is left alone; one the server dropped is forgotten', () => {
  const jobs = {
    done: rec({ kind: 'reboot', phase: 'done', result: 'failed', message: 'systemctl failed' }),
    told: rec({ kind: 'reboot', phase: 'done', result: 'succeeded', reported: true }),
    gone: rec({ kind: 'shutdown', phase: 'done', result: 'succeeded', reported: true }),
  };
  assert.deepEqual(plan(current({ jobs }), desired([job('done', 'reboot'), job('told', 'reboot')])), [
    { kind: 'forgetJob', jobId: 'gone' },
    { kind: 'reportJob', jobId: 'done', status: 'failed', message: 'systemctl failed' },
  ]);
});

test('an interrupted reset (state still here) is started again', () => {
  const steps = plan(current({ jobs: { x: rec({ kind: 'reset', phase: 'started', bootId: 'boot-1' }) } }), desired([job('x', 'reset')]));
  assert.deepEqual(steps, [{ kind: 'startJob', job: job('x', 'reset') }]);
});

test('compromised: every app is stopped first; jobs (a way to recover) still run', () => {
  const steps = plan(current({ integrity: 'compromised', runningApps: ['app-1', 'app-2'] }), desired([job('z', 'reset')]));
  assert.deepEqual(steps, [
    { kind: 'stopApp', appId: 'app-1', reason: 'integrity compromised' },
    { kind: 'stopApp', appId: 'app-2', reason: 'integrity compromised' },
    { kind: 'startJob', job: job('z', 'reset') },
  ]);
  assert.deepEqual(plan(current({ integrity: 'verified', runningApps: ['app-1'] }), desired([])), []);
});

test('the planner is pure: the same input gives the same steps and nothing is mutated', () => {
  const c = current({ jobs: { a: rec({ kind: 'reboot', phase: 'done', result: 'succeeded' }) } });
  const d = desired([job('a', 'reboot'), job('b', 'reboot')]);
  const snapshot = JSON.stringify([c, d]);
  assert.deepEqual(plan(c, d), plan(c, d));
  assert.equal(JSON.stringify([c, d]), snapshot);
});

test('update jobs (issue 7): started once; while installed on trial nothing else starts; the outcome is reported once', () => {
  const upd = {
    id: 'u1',
    kind: 'update' as const,
    createdAt: '2030-01-01T00:00:01Z',
    params: { version: '1.2.0', target: 'sightline-agent-1.2.0.tar' },
  };
  const later = job('r2', 'reboot', '2030-01-01T00:00:05Z');
  assert.deepEqual(plan(current(), desired([upd, later])), [{ kind: 'startJob', job: upd }]);
  const view = (phase: 'installing' | 'installed' | 'done', reported = false) => ({ update: { jobId: 'u1', phase, reported } });
  assert.deepEqual(
    plan(current(view('installing')), desired([upd])),
    [{ kind: 'startJob', job: upd }],
    'an interrupted install starts again',
  );
  assert.deepEqual(plan(current(view('installed')), desired([upd, later])), [{ kind: 'finishUpdate', jobId: 'u1' }]);
  assert.deepEqual(plan(current(view('done')), desired([upd])), [{ kind: 'finishUpdate', jobId: 'u1' }]);
  assert.deepEqual(plan(current(view('done', true)), desired([upd, later])), [{ kind: 'startJob', job: later }]);
});
