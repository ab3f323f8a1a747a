import { isSightlineError } from '@sightline/core';
import type { deviceApi } from '@sightline/protocol';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { Fetcher } from '../client/fetcher.js';
import { AgentError, ControlPlaneError } from '../errors.js';
import type { AgentLogger } from '../logs/logger.js';
import type { EncryptedStore } from '../storage/store.js';
import { UpdateError } from './errors.js';
import { SlotsDir, UpdateRecords } from './slots.js';
import { AgentUpdater, type UpdateProgress } from './updater.js';

/** The update job this agent is working on, sealed so a restart (into the new slot, or back) can report it. */
export const updateJobRecord = z
  .object({
    v: z.literal(1),
    jobId: z.string().max(128),
    version: z.string().max(64),
    /** installing: checks and install under way; installed: on trial, the launcher decides; done: result known. */
    phase: z.enum(['installing', 'installed', 'done']),
    result: z.enum(['succeeded', 'failed']).optional(),
    message: z.string().max(512).optional(),
    reported: z.boolean(),
  })
  .strict();
export type UpdateJobRecord = z.infer<typeof updateJobRecord>;
const RECORD = 'update-job';

/** What the planner sees of it. */
export interface UpdateJobView {
  jobId: string;
  phase: UpdateJobRecord['phase'];
  reported: boolean;
}

export interface UpdateJobsDeps {
  store: EncryptedStore;
  /** The launcher's install root (SIGHTLINE_SLOTS_DIR); undefined when the agent was not started by the launcher. */
  slotsDir: string | undefined;
  /** A fresh mTLS client for the job's downloads and reports; closed when the step ends. */
  openFetcher: () => Fetcher;
  agentVersion: string;
  clock: Clock;
  logger: AgentLogger;
  /** How long `finish` waits for the launcher to commit or revert the trial. */
  settleTimeoutMs?: number;
}

/** `POST /device/v1/jobs/:id` with the update fields (stage, bytes) of the contract. */
async function postJob(fetcher: Fetcher, jobId: string, body: deviceApi.JobUpdateRequest): Promise<void> {
  const res = await fetcher.request({
    method: 'POST',
    path: `/device/v1/jobs/${encodeURIComponent(jobId)}`,
    body: body.message === undefined ? body : { ...body, message: body.message.slice(0, 512) },
    timeoutMs: 20_000,
    maxResponseBytes: 64 * 1024,
    channel: 'control',
  });
  if (res.status >= 200 && res.status < 300) return;
  if (res.status >= 500 || res.status === 429 || res.status === 408)
    throw new AgentError('CONTROL_PLANE_ERROR', `The control plane answered a job report with ${res.status}; retrying later.`);
  let code = `HTTP_${res.status}`;
  let message = '';
  try {
    const json = JSON.parse(res.body.toString('utf8')) as { error?: { code?: string; message?: string } };
    code = json.error?.code ?? code;
    message = json.error?.message ?? '';
  } catch {
    // no JSON error body
  }
  throw new ControlPlaneError(res.status, code, message);
}

const describe = (err: unknown): string =>
  (isSightlineError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)).slice(0, 500);

/**
 * Runs `update` jobs on the agent's side (issue 7): report each stage,
 * stage and install the release through AgentUpdater, hand over to the
 * launcher for the trial boot, and after the restart report the outcome the
 * launcher recorded (committed, or reverted with its reason).
 */
export class UpdateJobs {
  constructor(private readonly d: UpdateJobsDeps) {}

  async view(): Promise<UpdateJobView | undefined> {
    const rec = await this.d.store.readJson(RECORD, updateJobRecord);
    return rec === undefined ? undefined : { jobId: rec.jobId, phase: rec.phase, reported: rec.reported };
  }

  /** The heartbeat's `update` field: the committed release, its slot and the floor (the control plane refuses jobs below it). */
  async status(): Promise<deviceApi.UpdateStatus | undefined> {
    if (this.d.slotsDir === undefined) return undefined;
    const state = await new SlotsDir(this.d.slotsDir).readState().catch(() => undefined);
    if (state?.active === undefined) return undefined;
    const records = new UpdateRecords(this.d.store);
    const rec = await records.slot(state.active);
    if (rec === undefined) return undefined;
    return { version: rec.version, securityFloor: await records.floor(), slot: state.active };
  }

  private save(rec: UpdateJobRecord): Promise<void> {
    return this.d.store.writeJson(RECORD, updateJobRecord.parse(rec));
  }

  /**
   * Starts job `jobId` for release `version`. Returns `restart` once the
   * release is installed on trial: the agent must then exit so the launcher
   * boots it.
   */
  async start(jobId: string, version: string): Promise<'restart' | 'continue'> {
    const fetcher = this.d.openFetcher();
    try {
      // Tell the control plane first: if that fails nothing was done and the step is retried.
      await postJob(fetcher, jobId, { status: 'running', stage: 'downloading' });
      await this.save({ v: 1, jobId, version, phase: 'installing', reported: false });
      let result: 'restart' | 'continue';
      try {
        result = await this.install(fetcher, jobId, version);
      } catch (err) {
        const message = describe(err);
        this.d.logger.error('update refused', { job: jobId, version, error: message });
        await this.save({ v: 1, jobId, version, phase: 'done', result: 'failed', message, reported: false });
        await postJob(fetcher, jobId, { status: 'failed', message });
        await this.save({ v: 1, jobId, version, phase: 'done', result: 'failed', message, reported: true });
        return 'continue';
      }
      return result;
    } finally {
      fetcher.close();
    }
  }

  private async install(fetcher: Fetcher, jobId: string, version: string): Promise<'restart'> {
    if (this.d.slotsDir === undefined)
      throw new UpdateError(
        'UPDATE_NO_LAUNCHER',
        'This agent was not started by the launcher (sightline-agent launch), so it cannot boot a new release on trial; run it through the systemd unit.',
      );
    const slots = new SlotsDir(this.d.slotsDir);
    let last = 0;
    const progress = (p: UpdateProgress): void => {
      // Bytes at most once a second; stage changes always. Progress reports may fail: the job goes on.
      const now = this.d.clock.now();
      if (p.bytesDone !== undefined && p.bytesDone !== p.bytesTotal && now - last < 1000) return;
      last = now;
      void postJob(fetcher, jobId, { status: 'running', ...p }).catch((err: unknown) =>
        this.d.logger.warn('cannot report update progress', { job: jobId, error: describe(err) }),
      );
    };
    const updater = new AgentUpdater({
      store: this.d.store,
      slots,
      agentVersion: this.d.agentVersion,
      now: () => new Date(this.d.clock.now()),
      onProgress: progress,
    });
    const prepared = await updater.prepareRemote(version, fetcher);
    // Recorded before the slot is written: a crash in between must not make the restarted agent install it again
    // over its own trial; a failed install is recorded as failed by the caller.
    await this.save({ v: 1, jobId, version, phase: 'installed', reported: false });
    const installed = await updater.install(prepared, jobId);
    this.d.logger.warn('update installed; restarting into it on trial', { job: jobId, version, slot: installed.slot });
    await postJob(fetcher, jobId, { status: 'running', stage: 'rebooting' });
    return 'restart';
  }

  /**
   * After the restart: waits (bounded) for the launcher to commit or revert
   * the trial, then reports the job `succeeded` (committed) or `failed`
   * (`reverted: <reason>`).
   */
  async finish(jobId: string): Promise<void> {
    let rec = await this.d.store.readJson(RECORD, updateJobRecord);
    if (rec?.jobId !== jobId) return;
    const fetcher = this.d.openFetcher();
    try {
      if (rec.phase === 'installed') {
        const outcome = await this.settle(rec, () =>
          postJob(fetcher, jobId, { status: 'running', stage: 'health-check' }).catch((err: unknown) =>
            this.d.logger.warn('cannot report update progress', { job: jobId, error: describe(err) }),
          ),
        );
        if (outcome === undefined) return; // still on trial: the next reconcile asks again
        rec = { ...rec, phase: 'done', ...outcome };
        await this.save(rec);
      }
      if (rec.phase !== 'done' || rec.reported) return;
      await postJob(fetcher, jobId, {
        status: rec.result ?? 'failed',
        ...(rec.message === undefined ? {} : { message: rec.message }),
      });
      await this.save({ ...rec, reported: true });
      this.d.logger.info('update job finished', { job: jobId, result: rec.result, message: rec.message });
    } finally {
      fetcher.close();
    }
  }

  private async settle(
    rec: UpdateJobRecord,
    onTrial: () => Promise<void>,
  ): Promise<{ result: 'succeeded' | 'failed'; message: string } | undefined> {
    let told = false;
    if (this.d.slotsDir === undefined) return { result: 'failed', message: 'reverted: the agent is no longer started by the launcher' };
    const slots = new SlotsDir(this.d.slotsDir);
    const until = this.d.clock.now() + (this.d.settleTimeoutMs ?? 60_000);
    for (;;) {
      const state = await slots.readState();
      if (state.lastCommit?.jobId === rec.jobId) {
        const floor = await new UpdateRecords(this.d.store).floor();
        return { result: 'succeeded', message: `committed ${rec.version} (anti-rollback floor ${floor})` };
      }
      if (state.lastRevert?.jobId === rec.jobId) return { result: 'failed', message: `reverted: ${state.lastRevert.reason}` };
      if (state.trial?.jobId !== rec.jobId)
        return { result: 'failed', message: `reverted: the launcher did not boot release ${rec.version} on trial` };
      if (!told) {
        told = true;
        await onTrial();
      }
      if (this.d.clock.now() >= until) return undefined;
      await this.d.clock.sleep(250);
    }
  }
}
