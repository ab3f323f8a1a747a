import type { Clock } from '../clock.js';
import type { Backoff } from '../client/backoff.js';
import type { DeviceClient } from '../client/device-client.js';
import { isIdentityRefused } from '../errors.js';
import type { AgentLogger } from './logger.js';
import type { LogSpool } from './spool.js';

/** The device log group's stream for the agent's own log. */
export const AGENT_LOG_STREAM = 'agent';

export interface ShipperOptions {
  spool: LogSpool;
  client: () => DeviceClient;
  clock: Clock;
  backoff: Backoff;
  logger: AgentLogger;
  /** How long to wait when the spool is empty. */
  idleMs: number;
}

/**
 * Ships the spool oldest-first to `POST /device/v1/logs`, one segment per
 * batch, deleting a segment only after the control plane took it. Offline,
 * it backs off and the spool (with its quota) holds the rest.
 */
export class LogShipper {
  constructor(private readonly o: ShipperOptions) {}

  /** Ships what is there now; returns how many events went out. Throws on an identity refusal. */
  async shipOnce(signal?: AbortSignal): Promise<number> {
    let sent = 0;
    for (;;) {
      if (signal?.aborted === true) return sent;
      const seg = await this.o.spool.oldest();
      const dropped = this.o.spool.dropped;
      if (seg === undefined) {
        if (dropped === 0) return sent;
        // Nothing left to carry the count: say it in an event of its own.
        const event = {
          time: new Date(this.o.clock.now()).toISOString(),
          level: 'warn' as const,
          message: `log spool quota reached: ${dropped} events were dropped`,
        };
        await this.o.client().shipLogs({ stream: AGENT_LOG_STREAM, events: [event], dropped }, signal);
        await this.o.spool.acknowledgeDropped(dropped);
        return sent;
      }
      await this.o.client().shipLogs({ stream: AGENT_LOG_STREAM, events: seg.events, dropped }, signal);
      await this.o.spool.remove(seg.id);
      await this.o.spool.acknowledgeDropped(dropped);
      sent += seg.events.length;
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.o.logger.flush();
        await this.shipOnce(signal);
        this.o.backoff.reset();
        await this.o.clock.sleep(this.o.idleMs, signal);
      } catch (err) {
        if (isIdentityRefused(err)) throw err;
        if (signal.aborted) return;
        const delay = this.o.backoff.next();
        this.o.logger.debug('log shipping failed; retrying', { code: (err as { code?: string }).code, retryInMs: delay });
        await this.o.clock.sleep(delay, signal);
      }
    }
  }
}
