import type { ChildProcess } from 'node:child_process';
import { Backoff } from '../client/backoff.js';
import { systemClock, type Clock, type Random } from '../clock.js';
import { describeExit } from './exit.js';
import type { ExitReason, NodeStatusShape, SandboxedProcessLike, SupervisorEvent, SupervisorOptions, SupervisorState } from './types.js';

/** Starts one sandboxed run; the supervisor calls it for the first start and each restart. */
export type Launcher = () => Promise<SandboxedProcessLike>;

/**
 * Keeps one code node's process running: starts it, watches it, restarts it
 * after an exit with exponential backoff and jitter (capped), reports each
 * event, and on stop() ends it (SIGTERM, then SIGKILL after the grace) and
 * every process it left (the sandbox kills its whole cgroup / pid namespace).
 *
 * @example
 * ```ts
 * const sup = sandbox.supervise(spec, { onEvent: (e) => { if (e.type === 'started') attach(e.child); } });
 * sup.start();
 * // ... later
 * await sup.stop();
 * ```
 */
export class NodeSupervisor {
  private readonly backoff: Backoff;
  private current: SandboxedProcessLike | undefined;
  private stopping: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private _state: SupervisorState = 'stopped';
  private _restarts = 0;
  private _lastExit: ExitReason | undefined;
  private lastError: string | undefined;
  /** restart() was asked: the coming exit is followed by a start at once, with no backoff. */
  private restartAsked = false;

  constructor(
    readonly node: string,
    private readonly launcher: Launcher,
    private readonly options: SupervisorOptions = {},
    private readonly clock: Clock = systemClock,
    random: Random = Math.random,
  ) {
    this.backoff = new Backoff({ baseMs: options.restart?.baseMs ?? 1000, maxMs: options.restart?.maxMs ?? 60_000, random });
  }

  get state(): SupervisorState {
    return this._state;
  }

  /** Restarts so far (each exit or failed start that was followed by another try). */
  get restarts(): number {
    return this._restarts;
  }

  get lastExit(): ExitReason | undefined {
    return this._lastExit;
  }

  /** The running process, if any. */
  get child(): ChildProcess | undefined {
    return this.current?.child;
  }

  /** The shape of the protocol's `nodeStatus` (the caller adds metrics). */
  status(): NodeStatusShape {
    const s: NodeStatusShape = { node: this.node, state: this._state, restarts: this._restarts };
    const last = this._lastExit !== undefined ? describeExit(this._lastExit) : this.lastError;
    if (last !== undefined) s.lastExit = last.slice(0, 512);
    return s;
  }

  /** Starts the watch loop (once). Events arrive through `onEvent`. */
  start(): void {
    if (this.loop !== undefined) return;
    this._state = 'starting';
    this.loop = this.run();
  }

  /**
   * Ends the running process (SIGTERM, then SIGKILL after the grace) and
   * starts it again at once: not a failure, so no backoff. For a change
   * outside the node that it must start afresh for (its model runner was
   * replaced, so its direct channel leads nowhere). Does nothing while no
   * process runs (one that is restarting will start afresh anyway) or after
   * stop().
   */
  restart(): void {
    const running = this.current;
    if (running === undefined || this.abort.signal.aborted) return;
    this.restartAsked = true;
    void running.stop(this.options.graceMs ?? 5000);
  }

  /** Stops the node and waits until nothing of it is left; later restarts are cancelled. */
  stop(graceMs?: number): Promise<void> {
    this.stopping ??= this.doStop(graceMs ?? this.options.graceMs ?? 5000);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    this.abort.abort();
    const running = this.current;
    const reason: ExitReason = running !== undefined ? await running.stop(graceMs) : { kind: 'stopped' };
    await this.loop;
    this._state = 'stopped';
    this.emit({ type: 'stopped', at: this.clock.now(), reason });
  }

  private emit(event: SupervisorEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A listener's fault must not stop the supervision.
    }
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const max = this.options.restart?.maxRestarts ?? Number.POSITIVE_INFINITY;
    const resetAfter = this.options.restart?.resetAfterMs ?? 60_000;
    for (;;) {
      if (signal.aborted) return;
      let proc: SandboxedProcessLike;
      try {
        proc = await this.launcher();
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        this.lastError = `start failed: ${error.message}`;
        if (!(await this.pause(max, (restartInMs) => this.emit({ type: 'start-failed', at: this.clock.now(), error, restartInMs }))))
          return;
        continue;
      }
      if (signal.aborted) {
        // stop() came while the process was being set up: it must not outlive the supervisor.
        this.current = proc;
        await proc.stop(0);
        return;
      }
      this.current = proc;
      this._state = 'running';
      const startedAt = this.clock.now();
      this.emit({ type: 'started', at: startedAt, restarts: this._restarts, child: proc.child, layers: proc.layers });
      const reason = await proc.exited;
      this.current = undefined;
      this._lastExit = reason;
      if (signal.aborted) return;
      if (this.restartAsked) {
        this.restartAsked = false;
        this._restarts++;
        this.emit({ type: 'exited', at: this.clock.now(), reason, restartInMs: 0 });
        this._state = 'starting';
        continue;
      }
      if (this.clock.now() - startedAt >= resetAfter) this.backoff.reset();
      if (!(await this.pause(max, (restartInMs) => this.emit({ type: 'exited', at: this.clock.now(), reason, restartInMs })))) return;
    }
  }

  /** Reports the end of a run and waits out the backoff; false when no restart follows. */
  private async pause(max: number, report: (restartInMs: number | null) => void): Promise<boolean> {
    if (this.backoff.failures >= max) {
      this._state = 'failed';
      report(null);
      return false;
    }
    const delay = this.backoff.next();
    this._state = 'restarting';
    report(delay);
    await this.clock.sleep(delay, this.abort.signal);
    if (this.abort.signal.aborted) return false;
    this._restarts++;
    this._state = 'starting';
    return true;
  }
}
