import type { DeviceClient } from '../client/device-client.js';
import type { AgentLogger } from '../logs/logger.js';
import type { AgentState } from '../storage/records.js';
import type { Step } from './planner.js';
import type { Runtime } from './runtime.js';

export interface ExecutorDeps {
  client: () => DeviceClient;
  runtime: Runtime;
  logger: AgentLogger;
  /** Reads, changes and writes the persisted agent state (the reconciler's memory) as one step, serialised with its other writers. */
  updateState: (fn: (state: AgentState) => void) => Promise<void>;
  /** Full reset: crypto-erase and wipe. The agent stops after it. */
  fullReset: () => Promise<void>;
  now: () => number;
  /** Update jobs (issue 7); absent in agents built without the update path. */
  update?: {
    start(jobId: string, version: string): Promise<'restart' | 'continue'>;
    finish(jobId: string): Promise<void>;
  };
}

/** `restart`: an update was installed on trial; the agent exits so the launcher boots it. */
export type ExecutionOutcome = 'continue' | 'reset' | 'restart';

/**
 * Carries out a plan, one step at a time, recording progress before each
 * irreversible action so a restart resumes instead of repeating it.
 */
export class Executor {
  constructor(private readonly d: ExecutorDeps) {}

  async execute(steps: readonly Step[]): Promise<ExecutionOutcome> {
    for (const step of steps) {
      const outcome = await this.one(step);
      if (outcome !== 'continue') return outcome;
    }
    return 'continue';
  }

  private update(fn: (s: AgentState) => void): Promise<void> {
    return this.d.updateState(fn);
  }

  private async one(step: Step): Promise<ExecutionOutcome> {
    switch (step.kind) {
      case 'stopApp':
        // The app supervisor arrives in a later issue; nothing runs yet.
        this.d.logger.warn('stopping app', { app: step.appId, reason: step.reason });
        return 'continue';
      case 'forgetJob':
        await this.update((s) => {
          delete s.jobs[step.jobId];
        });
        return 'continue';
      case 'reportJob':
        await this.d.client().updateJob(step.jobId, step.status, step.message);
        await this.update((s) => {
          const rec = s.jobs[step.jobId];
          if (rec !== undefined)
            s.jobs[step.jobId] = {
              ...rec,
              phase: 'done',
              result: step.status,
              ...(step.message === undefined ? {} : { message: step.message }),
              reported: true,
            };
        });
        this.d.logger.info('job finished', { job: step.jobId, status: step.status });
        return 'continue';
      case 'finishUpdate':
        await this.d.update?.finish(step.jobId);
        return 'continue';
      case 'startJob': {
        const { job } = step;
        const { kind } = job;
        if (kind === 'update') {
          if (this.d.update === undefined) {
            await this.d.client().updateJob(job.id, 'failed', 'UPDATE_NO_LAUNCHER: this agent cannot install updates.');
            return 'continue';
          }
          return this.d.update.start(job.id, job.params?.version ?? '');
        }
        // Tell the control plane first: if that fails nothing was done and the step is retried.
        await this.d.client().updateJob(job.id, 'running');
        this.d.logger.warn('running device job', { job: job.id, kind });
        await this.update((s) => {
          s.jobs[job.id] = {
            kind,
            phase: 'started',
            bootId: this.d.runtime.bootId(),
            startedAt: new Date(this.d.now()).toISOString(),
            reported: false,
          };
        });
        if (kind === 'reset') {
          // The control plane has the job as running and revokes the certificates; nothing can be reported after this.
          await this.d.logger.flush().catch(() => undefined);
          await this.d.fullReset();
          return 'reset';
        }
        try {
          // systemd stops the agent (SIGTERM) on its way down; until then it keeps serving.
          await (kind === 'reboot' ? this.d.runtime.reboot() : this.d.runtime.shutdown());
          return 'continue';
        } catch (err) {
          const message = err instanceof Error ? err.message.slice(0, 500) : String(err);
          await this.update((s) => {
            s.jobs[job.id] = { kind, phase: 'done', result: 'failed', message, reported: false };
          });
          await this.d.client().updateJob(job.id, 'failed', message);
          await this.update((s) => {
            const rec = s.jobs[job.id];
            if (rec !== undefined) rec.reported = true;
          });
          this.d.logger.error('device job failed', { job: job.id, kind, error: message });
          return 'continue';
        }
      }
    }
  }
}
