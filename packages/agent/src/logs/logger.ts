import type { Clock } from '../clock.js';
import type { LogEvent, LogSpool } from './spool.js';

export type LogLevel = LogEvent['level'];
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const MAX_MESSAGE = 16 * 1024;
/** Events held in memory between flushes to the spool; beyond this they are counted as dropped. */
const MAX_BUFFERED = 10_000;

export interface LoggerOptions {
  clock: Clock;
  /** Where each line goes as well (stdout → journald); defaults to stdout. */
  sink?: (line: string) => void;
  minLevel?: LogLevel;
}

/**
 * The agent's own log: one JSON line per event to stdout (journald), and the
 * same events into the encrypted spool for the control plane once a spool is
 * attached. Callers never pass secrets; fields are for ids, codes and counts.
 */
export class AgentLogger {
  private buffer: LogEvent[] = [];
  private overflow = 0;
  private spool: LogSpool | undefined;
  private readonly sink: (line: string) => void;
  private readonly minLevel: LogLevel;

  constructor(private readonly options: LoggerOptions) {
    this.sink = options.sink ?? ((line) => process.stdout.write(`${line}\n`));
    this.minLevel = options.minLevel ?? 'info';
  }

  attachSpool(spool: LogSpool): void {
    this.spool = spool;
  }

  log(level: LogLevel, message: string, fields?: Record<string, string | number | boolean | undefined>): void {
    if (ORDER[level] < ORDER[this.minLevel]) return;
    const time = new Date(this.options.clock.now()).toISOString();
    const extra =
      fields === undefined
        ? ''
        : Object.entries(fields)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => ` ${k}=${JSON.stringify(v)}`)
            .join('');
    const text = `${message}${extra}`.slice(0, MAX_MESSAGE);
    this.sink(JSON.stringify({ time, level, msg: text }));
    if (this.buffer.length >= MAX_BUFFERED) this.overflow++;
    else this.buffer.push({ time, level, message: text });
  }

  debug(message: string, fields?: Record<string, string | number | boolean | undefined>): void {
    this.log('debug', message, fields);
  }
  info(message: string, fields?: Record<string, string | number | boolean | undefined>): void {
    this.log('info', message, fields);
  }
  warn(message: string, fields?: Record<string, string | number | boolean | undefined>): void {
    this.log('warn', message, fields);
  }
  error(message: string, fields?: Record<string, string | number | boolean | undefined>): void {
    this.log('error', message, fields);
  }

  private flushing: Promise<void> = Promise.resolve();

  /** Moves buffered events into the spool (no-op without one); calls are serialised so segments never interleave. */
  flush(): Promise<void> {
    const next = this.flushing.then(() => this.flushNow());
    this.flushing = next.catch(() => undefined);
    return next;
  }

  private async flushNow(): Promise<void> {
    if (this.spool === undefined || (this.buffer.length === 0 && this.overflow === 0)) return;
    const events = this.buffer;
    const overflow = this.overflow;
    this.buffer = [];
    this.overflow = 0;
    try {
      await this.spool.append(events, overflow);
    } catch (err) {
      this.overflow += events.length + overflow; // lost (disk full?): counted, so the control plane hears of it
      throw err;
    }
  }

  async run(signal: AbortSignal, intervalMs = 1000): Promise<void> {
    while (!signal.aborted) {
      await this.options.clock.sleep(intervalMs, signal);
      // A full disk must not take the agent down: the events are counted as dropped and stdout still has them.
      await this.flush().catch((err: unknown) =>
        this.sink(
          JSON.stringify({
            time: new Date(this.options.clock.now()).toISOString(),
            level: 'error',
            msg: `log spool write failed: ${String(err)}`,
          }),
        ),
      );
    }
  }
}
