import { constants } from 'node:os';
import type { ExitReason } from './types.js';

/**
 * A sentence-sized reason, as `nodeStatus.lastExit` carries it: `code 1`,
 * `signal SIGSEGV`, `memory quota`, `disk quota`, `stopped`.
 */
export function describeExit(reason: ExitReason): string {
  switch (reason.kind) {
    case 'code':
      return `code ${reason.code}`;
    case 'signal':
      return `signal ${reason.signal}`;
    case 'memory quota':
    case 'disk quota':
    case 'stopped':
      return reason.kind;
  }
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/**
 * The exit as the app saw it. bubblewrap ends with 128 + n when its child
 * died of signal n (as a shell does), so behind it such a code is a signal.
 */
export function plainExit(code: number | null, signal: NodeJS.Signals | null, behindBwrap: boolean): ExitReason {
  if (signal !== null) return { kind: 'signal', signal };
  const c = code ?? 0;
  const name = behindBwrap && c > 128 ? SIGNAL_NAMES.get(c - 128) : undefined;
  return name !== undefined ? { kind: 'signal', signal: name } : { kind: 'code', code: c };
}
