import type { Clock } from '../clock.js';
import type { AppStatusReport } from '../client/device-client.js';
import { ControlPlaneError } from '../errors.js';

export interface ReporterOptions {
  readonly send: (report: AppStatusReport, signal: AbortSignal) => Promise<void>;
  readonly clock: Clock;
  /** At most one report per this many ms within a stage (progress is coalesced). Default 1000. */
  readonly minIntervalMs?: number;
  /** Wait after a failed send (the control plane is away); default 5000. */
  readonly retryMs?: number;
  readonly onError?: (err: unknown) => void;
}

/**
 * Sends one instance's status to the control plane. Every stage change is
 * sent, in order; within a stage the latest report wins (progress and
 * running status are coalesced, at most one a second, so they never queue).
 * A report that could not be sent is retried until a newer one of its stage
 * replaces it; a refusal (4xx) is not retried.
 */
export class StatusReporter {
  private readonly queue: AppStatusReport[] = [];
  private lastSent: { stage: string; at: number } | undefined;
  private loop: Promise<void> | undefined;
  private readonly stopper = new AbortController();
  private idle: (() => void)[] = [];

  constructor(private readonly o: ReporterOptions) {}

  /** Queues `report`; it replaces a queued report of the same stage that was not sent yet. */
  set(report: AppStatusReport): void {
    if (this.stopper.signal.aborted) return;
    const last = this.queue.at(-1);
    if (last !== undefined && last.stage === report.stage && last.revision === report.revision) this.queue[this.queue.length - 1] = report;
    else this.queue.push(report);
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
      for (const w of this.idle.splice(0)) w();
    });
  }

  /** Resolves once nothing is waiting to be sent (or the reporter is closed). */
  flushed(): Promise<void> {
    if (this.loop === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  close(): void {
    this.stopper.abort();
  }

  private async run(): Promise<void> {
    const signal = this.stopper.signal;
    const interval = this.o.minIntervalMs ?? 1000;
    while (this.queue.length > 0 && !signal.aborted) {
      const head = this.queue[0];
      if (head === undefined) return;
      if (this.lastSent !== undefined && this.lastSent.stage === head.stage) {
        const wait = this.lastSent.at + interval - this.o.clock.now();
        if (wait > 0) {
          await this.o.clock.sleep(wait, signal);
          continue; // the head may have been replaced by a newer report meanwhile
        }
      }
      this.queue.shift();
      this.lastSent = { stage: head.stage, at: this.o.clock.now() };
      try {
        await this.o.send(head, signal);
      } catch (err) {
        this.o.onError?.(err);
        if (err instanceof ControlPlaneError && err.status < 500) continue;
        if (this.queue[0]?.stage !== head.stage) this.queue.unshift(head);
        await this.o.clock.sleep(this.o.retryMs ?? 5000, signal);
      }
    }
  }
}
