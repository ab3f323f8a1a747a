// Sightline's audit trail records each retention cut as an event of its own (action
// `audit:Prune`, parameters.cut = the first kept event), written in the transaction that drops
// the events. The event lies after the cut, so it is kept, and signed checkpoints cover it: a
// log or export that starts at a cut no such event names lost its head some other way.

/** The action of the event that records a retention cut. */
export const RETENTION_CUT_ACTION = 'audit:Prune';

const MARKER = Buffer.from(`"action":${JSON.stringify(RETENTION_CUT_ACTION)}`);

/** True when the event line records the retention cut at `cut`. Cheap for every other line. */
export function recordsRetentionCut(line: Uint8Array | string, cut: number): boolean {
  const bytes = typeof line === 'string' ? Buffer.from(line) : Buffer.from(line.buffer, line.byteOffset, line.length);
  if (!bytes.includes(MARKER)) return false;
  try {
    const event = JSON.parse(bytes.toString('utf8')) as { action?: unknown; parameters?: { cut?: unknown } };
    return event.action === RETENTION_CUT_ACTION && event.parameters?.cut === cut;
  } catch {
    return false;
  }
}
