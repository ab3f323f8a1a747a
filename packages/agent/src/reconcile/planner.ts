import type { DesiredState } from '../client/device-client.js';
import type { IntegrityState } from '../integrity/monitor.js';
import type { JobRecord } from '../storage/records.js';
import type { UpdateJobView } from '../update/jobs.js';

export type DeviceJob = DesiredState['jobs'][number];

/** What the device is doing now, as far as the reconciler is concerned. */
export interface CurrentState {
  integrity: IntegrityState;
  /** This boot's id (/proc/sys/kernel/random/boot_id): tells whether a reboot happened. */
  bootId: string;
  jobs: Readonly<Record<string, JobRecord>>;
  /** Apps running now (the app supervisor arrives in a later issue; always empty until then). */
  runningApps: readonly string[];
  /** Milliseconds since the epoch. */
  now: number;
  /** The update job the agent last worked on (issue 7), if any. */
  update?: UpdateJobView | undefined;
}

/** How long a reboot or shutdown asked of systemd may take before the job counts as failed. */
export const REBOOT_GRACE_MS = 10 * 60_000;

export type Step =
  | { kind: 'stopApp'; appId: string; reason: string }
  | { kind: 'reportJob'; jobId: string; status: 'succeeded' | 'failed'; message?: string }
  | { kind: 'forgetJob'; jobId: string }
  | { kind: 'startJob'; job: DeviceJob }
  /** Report an installed update's outcome once the launcher committed or reverted it. */
  | { kind: 'finishUpdate'; jobId: string };

const byCreation = (a: DeviceJob, b: DeviceJob): number =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * The steps from `current` to `desired` (balena-supervisor's
 * `inferNextSteps`): pure, so every case is a unit test without I/O.
 *
 * - A compromised agent runs no apps (seed point 13): stop them all. Jobs
 *   still run: a reset or reboot is how an operator recovers the device.
 * - Jobs run one at a time, oldest first; reboot, shutdown and reset all end
 *   the process, so at most one `startJob` per plan, after every report.
 * - A reboot or shutdown already asked for is judged by the boot id: a new
 *   boot means it happened; the same boot past REBOOT_GRACE_MS means it did not.
 */
export function plan(current: CurrentState, desired: DesiredState): Step[] {
  const steps: Step[] = [];
  if (current.integrity === 'compromised') {
    for (const appId of current.runningApps) steps.push({ kind: 'stopApp', appId, reason: 'integrity compromised' });
  }

  const wanted = new Map(desired.jobs.map((j) => [j.id, j]));
  for (const jobId of Object.keys(current.jobs).sort()) {
    if (!wanted.has(jobId)) steps.push({ kind: 'forgetJob', jobId });
  }

  let start: DeviceJob | undefined;
  let awaiting = false;
  for (const job of [...desired.jobs].sort(byCreation)) {
    if (job.kind === 'update') {
      // Issue 7: an installed update is on trial until the launcher commits or reverts it; nothing else starts meanwhile.
      const u = current.update?.jobId === job.id ? current.update : undefined;
      if (u === undefined || u.phase === 'installing') start ??= job;
      else if (u.phase === 'installed') {
        steps.push({ kind: 'finishUpdate', jobId: job.id });
        awaiting = true;
      } else if (!u.reported) steps.push({ kind: 'finishUpdate', jobId: job.id });
      continue;
    }
    const rec = current.jobs[job.id];
    if (rec === undefined) {
      start ??= job;
      continue;
    }
    if (rec.phase === 'started') {
      if (rec.kind === 'reset') {
        start ??= job; // an interrupted reset (the agent still has its state): do it again
      } else if (rec.bootId !== current.bootId) {
        steps.push({
          kind: 'reportJob',
          jobId: job.id,
          status: 'succeeded',
          message: rec.kind === 'reboot' ? 'the device rebooted' : 'the device was shut down and started again',
        });
      } else if (rec.startedAt === undefined || current.now - Date.parse(rec.startedAt) > REBOOT_GRACE_MS) {
        steps.push({
          kind: 'reportJob',
          jobId: job.id,
          status: 'failed',
          message: `the device did not ${rec.kind === 'reboot' ? 'reboot' : 'shut down'} within ${REBOOT_GRACE_MS / 60_000} minutes`,
        });
      } else {
        awaiting = true; // asked for, same boot, still within the grace period: wait, and start nothing else
      }
      continue;
    }
    if (!rec.reported) {
      steps.push({
        kind: 'reportJob',
        jobId: job.id,
        status: rec.result ?? 'failed',
        ...(rec.message === undefined ? {} : { message: rec.message }),
      });
    }
  }
  if (start !== undefined && !awaiting) steps.push({ kind: 'startJob', job: start });
  return steps;
}
