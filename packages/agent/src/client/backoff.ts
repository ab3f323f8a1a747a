import type { Random } from '../clock.js';

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  random: Random;
}

/**
 * Exponential backoff with "equal jitter" (half fixed, half random): after a
 * control plane outage ten thousand agents do not come back in lock step, and
 * none retries in a tight loop.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  next(): number {
    const ceiling = Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + this.options.random() * (ceiling / 2));
  }

  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}
