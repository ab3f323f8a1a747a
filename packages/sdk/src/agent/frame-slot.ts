import type { FrameData } from '../frame.js';
import { returnFrame } from './frame-lease.js';

interface Waiter {
  resolve(frame: FrameData | null): void;
}

/**
 * A one-frame mailbox between a camera and one app input: a new frame
 * replaces an unread one (counted in `dropped`), so an app slower than its
 * camera always gets the latest frame and nothing queues up. A lent frame
 * (`lendFrame`) it drops, or holds when closed, goes back to its lender; one
 * it hands out through `take` is the taker's to return.
 *
 * @example
 * ```ts
 * const slot = new FrameSlot();
 * ingest.on('frame', (f) => slot.offer(f));
 * // in AppHost.getFrame:
 * return slot.take(timeoutMs, signal);
 * ```
 */
export class FrameSlot {
  private latest: FrameData | null = null;
  private readonly waiters: Waiter[] = [];
  private closed = false;
  /** Frames replaced before anyone read them. */
  dropped = 0;
  /** Frames handed out. */
  delivered = 0;

  /** Offers a new frame: to a waiting reader if there is one, else it replaces the unread frame. */
  offer(frame: FrameData): void {
    if (this.closed) {
      returnFrame(frame);
      return;
    }
    const w = this.waiters.shift();
    if (w !== undefined) {
      this.delivered++;
      w.resolve(frame);
      return;
    }
    if (this.latest !== null) {
      this.dropped++;
      returnFrame(this.latest);
    }
    this.latest = frame;
  }

  /** The unread frame, or the next one to arrive within `timeoutMs`, or null (timeout, abort, close). */
  take(timeoutMs: number, signal?: AbortSignal): Promise<FrameData | null> {
    if (this.latest !== null) {
      const f = this.latest;
      this.latest = null;
      this.delivered++;
      return Promise.resolve(f);
    }
    if (this.closed || signal?.aborted === true || timeoutMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = (frame: FrameData | null): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(frame);
      };
      const waiter: Waiter = { resolve: done };
      const onAbort = (): void => done(null);
      const timer = setTimeout(() => done(null), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Wakes every reader with null and refuses further frames. */
  close(): void {
    this.closed = true;
    if (this.latest !== null) returnFrame(this.latest);
    this.latest = null;
    for (const w of this.waiters.splice(0)) w.resolve(null);
  }
}
