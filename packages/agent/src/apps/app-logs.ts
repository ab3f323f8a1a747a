import type { Readable } from 'node:stream';
import type { Clock } from '../clock.js';
import type { DeviceClient } from '../client/device-client.js';
import { isIdentityRefused } from '../errors.js';
import { LogSpool, type LogEvent } from '../logs/spool.js';

const MAX_LINE = 16 * 1024;
/** Lines held in memory between flushes; beyond this they are counted as dropped. */
const MAX_BUFFERED = 5000;
/** Disk quota of one instance's log spool. */
export const APP_SPOOL_QUOTA_BYTES = 32 * 1024 * 1024;

/** The log stream of an instance in the device's log group. */
export const appLogStream = (instanceId: string): string => `app-${instanceId}`.slice(0, 64).replace(/[^A-Za-z0-9._-]/g, '_');

/**
 * One instance's log: its nodes' stdout/stderr and SDK logger lines, sealed
 * in a spool of its own on disk (seed point 12) and shipped to the device's
 * log group under the stream `app-<instanceId>` (issue 6: app logs per
 * instance, encrypted in the log store).
 */
export class AppLog {
  private buffer: LogEvent[] = [];
  private overflow = 0;

  private constructor(
    private readonly spool: LogSpool,
    readonly stream: string,
    private readonly clock: Clock,
  ) {}

  static async open(dir: string, key: Uint8Array, instanceId: string, clock: Clock): Promise<AppLog> {
    return new AppLog(await LogSpool.open(dir, key, APP_SPOOL_QUOTA_BYTES), appLogStream(instanceId), clock);
  }

  line(level: LogEvent['level'], message: string): void {
    if (this.buffer.length >= MAX_BUFFERED) {
      this.overflow++;
      return;
    }
    this.buffer.push({ time: new Date(this.clock.now()).toISOString(), level, message: message.slice(0, MAX_LINE) });
  }

  /** Feeds each line of `stream` (a node's stdout or stderr) in, prefixed with the node's name. */
  follow(stream: Readable | null | undefined, node: string, level: LogEvent['level']): void {
    if (stream === null || stream === undefined) return;
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = (parts.pop() ?? '').slice(0, MAX_LINE);
      for (const p of parts) if (p.trim() !== '') this.line(level, `[${node}] ${p}`);
    });
    stream.on('end', () => {
      if (rest.trim() !== '') this.line(level, `[${node}] ${rest}`);
      rest = '';
    });
  }

  /** Moves buffered lines into the sealed spool. */
  async flush(): Promise<void> {
    if (this.buffer.length === 0 && this.overflow === 0) return;
    const events = this.buffer;
    const overflow = this.overflow;
    this.buffer = [];
    this.overflow = 0;
    await this.spool.append(events, overflow);
  }

  /** Ships every spooled segment, oldest first; a segment is deleted once the control plane took it. */
  async ship(client: DeviceClient, signal?: AbortSignal): Promise<void> {
    await this.flush();
    for (let seg = await this.spool.oldest(); seg !== undefined; seg = await this.spool.oldest()) {
      if (signal?.aborted === true) return;
      const dropped = this.spool.dropped;
      if (seg.events.length > 0) await client.shipLogs({ stream: this.stream, events: seg.events, dropped }, signal);
      await this.spool.remove(seg.id);
      await this.spool.acknowledgeDropped(dropped);
    }
  }

  /** Flushes and ships every `intervalMs` until `signal` aborts; failures wait for the next round (the spool keeps the lines). */
  async run(client: () => DeviceClient, signal: AbortSignal, intervalMs = 2000): Promise<void> {
    while (!signal.aborted) {
      await this.clock.sleep(intervalMs, signal);
      try {
        await this.ship(client(), signal);
      } catch (err) {
        if (isIdentityRefused(err)) return;
      }
    }
  }
}
