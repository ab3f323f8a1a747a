// Offline verification of an exported audit log: recompute the RFC 9162 tree from the events and
// check every signed checkpoint against it. Needs no server and no database, only the export and
// the log's verifier key.

import { type Checkpoint, type NoteVerifier, parseAndVerifyCheckpoint, parseVerifierKey } from '../checkpoint/index.js';
import { AuditProofError, TreeBuilder, verifyConsistency } from '../merkle/index.js';
import { hashesEqual } from '../merkle/hash.js';
import { AuditVerifyError } from './errors.js';

export interface AuditLogExport {
  /** The exact bytes of each exported event line, in log order; each is one leaf. */
  readonly events: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Checkpoint notes, in the order the log signed them. */
  readonly checkpoints: ReadonlyArray<string | Uint8Array>;
  /** The log's key: a vkey string, or verifiers (several during a key rotation). */
  readonly verifier: string | NoteVerifier | readonly NoteVerifier[];
  /** The log's origin; defaults to the key name. */
  readonly origin?: string;
  /** Accept events after the last checkpoint (reported in `signedSize`) instead of failing. */
  readonly allowUnsignedTail?: boolean;
  /**
   * For a log whose events before `size` were dropped by retention: the compact range of [0, size)
   * (`compactRange(size)` node hashes, largest first). `events` then starts with event `size`, and
   * the first checkpoint must be the signed one at `size`, whose root the compact range must reproduce.
   */
  readonly base?: AuditLogBase;
}

export interface AuditLogBase {
  readonly size: number;
  readonly compactRange: readonly Uint8Array[];
}

export interface AuditLogResult {
  /** Events read (the kept ones: from `baseSize` on). */
  readonly events: number;
  /** Index of the first event read: 0, or the retention cut. */
  readonly baseSize: number;
  /** baseSize + events: the size of the tree the events end. */
  readonly treeSize: number;
  readonly checkpoints: number;
  /** RFC 9162 root of all the events. */
  readonly root: Uint8Array;
  /** Size of the last checkpoint: events [0, signedSize) are covered by a signature. */
  readonly signedSize: number;
}

const describe = (i: number, cp: Checkpoint): string => `checkpoint #${i} (size ${cp.size})`;

/**
 * Verifies an exported audit log. Throws AuditVerifyError, naming the first bad checkpoint or the
 * first range of events that fails to reproduce a signed root (a bad vkey string throws
 * CheckpointError CHECKPOINT_KEY_INVALID). Cap the length of event lines where they are read.
 *
 * @example
 * const result = await verifyAuditLog({ events: lines, checkpoints: notes, verifier: vkey });
 */
export async function verifyAuditLog(input: AuditLogExport): Promise<AuditLogResult> {
  const verifiers = typeof input.verifier === 'string' ? parseVerifierKey(input.verifier) : input.verifier;
  const options = input.origin === undefined ? {} : { origin: input.origin };

  // signed-note: a checkpoint's text is ignored until its signature verifies, so every
  // checkpoint is verified before any of its fields is used.
  const cps = input.checkpoints.map((note, i) => {
    try {
      return parseAndVerifyCheckpoint(note, verifiers, options);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new AuditVerifyError('AUDIT_CHECKPOINT_INVALID', `Checkpoint #${i} is not valid: ${reason}`, {
        cause,
        details: { checkpoint: i },
      });
    }
  });

  // A log only grows (RFC 9162 2.1.4: a later tree head extends the earlier), so checkpoints
  // listed in signing order never shrink.
  cps.forEach((cp, i) => {
    const prev = cps[i - 1];
    if (prev !== undefined && cp.size < prev.size) {
      throw new AuditVerifyError(
        'AUDIT_ORDER_INVALID',
        `${describe(i, cp)} is smaller than ${describe(i - 1, prev)}; list checkpoints in the order they were signed.`,
        { details: { checkpoint: i } },
      );
    }
  });

  // Each checkpoint is compared with the root recomputed at its size. Two checkpoints that both
  // match the same leaves are consistent, so no consistency proof is needed offline. A mismatch
  // is blamed on the events unless a later checkpoint matches them: then the events are the
  // ones that log signed, and the earlier checkpoint is the odd one out (a fork, or history
  // rewritten after someone kept that checkpoint).
  const base = input.base?.size ?? 0;
  const tree = startTree(input.base, cps);
  let next = 0;
  let lastMatch: number | undefined;
  let firstMismatch: number | undefined;
  const checkAtSize = (): void => {
    let root: Uint8Array | undefined;
    for (let cp = cps[next]; cp !== undefined && cp.size === tree.size; cp = cps[++next]) {
      root ??= tree.root();
      if (hashesEqual(root, cp.rootHash)) {
        if (firstMismatch !== undefined) throw fork(firstMismatch, next);
        lastMatch = next;
      } else if (lastMatch !== undefined && (cps[lastMatch] as Checkpoint).size === cp.size) {
        throw fork(next, lastMatch);
      } else {
        firstMismatch ??= next;
      }
    }
  };
  const fork = (bad: number, good: number): AuditVerifyError =>
    new AuditVerifyError(
      'AUDIT_CHECKPOINT_MISMATCH',
      `${describe(bad, cps[bad] as Checkpoint)} contradicts ${describe(good, cps[good] as Checkpoint)}, which the ` +
        'events reproduce: the log signed two different histories, or rewrote history after the first was kept.',
      { details: { checkpoint: bad, consistentWith: good } },
    );

  checkAtSize();
  const add = (event: Uint8Array): void => {
    tree.append(event);
    checkAtSize();
  };
  // `for await` over a plain array costs a promise per event, about 10% of the time.
  if (Symbol.asyncIterator in input.events) for await (const event of input.events) add(event);
  else for (const event of input.events) add(event);

  const from = lastMatch === undefined ? base : (cps[lastMatch] as Checkpoint).size;
  if (firstMismatch !== undefined) {
    const cp = cps[firstMismatch] as Checkpoint;
    // Only the cut checkpoint vouches for the compact range, so a replaced pair shows up here.
    const orBase = base > 0 && from === base ? ', or the checkpoint at the cut was replaced together with its compact range' : '';
    throw new AuditVerifyError(
      'AUDIT_EVENT_MISMATCH',
      `Events ${from} to ${cp.size - 1} do not reproduce the root of ${describe(firstMismatch, cp)}: ` +
        `an event in that range was changed, dropped, inserted or moved${orBase}.`,
      { details: { checkpoint: firstMismatch, firstEvent: from, lastEvent: cp.size - 1 } },
    );
  }
  const unreached = cps[next];
  if (unreached !== undefined) {
    throw new AuditVerifyError(
      'AUDIT_EVENT_MISMATCH',
      `The export ends after ${tree.size} events but ${describe(next, unreached)} covers more: events from ` +
        `${tree.size} on were dropped, or the export is incomplete.`,
      { details: { checkpoint: next, firstEvent: tree.size } },
    );
  }
  const signedSize = cps.at(-1)?.size ?? 0;
  if (tree.size > signedSize && input.allowUnsignedTail !== true) {
    throw new AuditVerifyError(
      'AUDIT_UNSIGNED_EVENTS',
      `Events ${signedSize} to ${tree.size - 1} are not covered by any checkpoint; export up to a checkpoint, ` +
        'or allow an unsigned tail.',
      { details: { firstEvent: signedSize } },
    );
  }
  return { events: tree.size - base, baseSize: base, treeSize: tree.size, checkpoints: cps.length, root: tree.root(), signedSize };
}

/**
 * The tree to extend with the events: empty, or rebuilt from the retention base's compact range,
 * which must reproduce the root of the first checkpoint, the signed one at the cut (the
 * "last checkpoint before the cut" that retention keeps, issue 3).
 */
function startTree(base: AuditLogBase | undefined, cps: readonly Checkpoint[]): TreeBuilder {
  if (base === undefined || (base.size === 0 && base.compactRange.length === 0)) return new TreeBuilder();
  let tree: TreeBuilder;
  try {
    tree = TreeBuilder.fromCompactRange(base.size, base.compactRange);
  } catch (cause) {
    throw new AuditVerifyError(
      'AUDIT_BASE_INVALID',
      `The compact range of the dropped events is malformed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, details: { baseSize: base.size } },
    );
  }
  const first = cps[0];
  if (first?.size !== base.size) {
    throw new AuditVerifyError(
      'AUDIT_BASE_INVALID',
      `Events before ${base.size} were dropped, so the first checkpoint must be the signed one at the cut (size ${base.size}), ` +
        `but it is ${first === undefined ? 'missing' : describe(0, first)}: the checkpoint at the cut was replaced or removed.`,
      { details: { baseSize: base.size, checkpoint: 0 } },
    );
  }
  if (!hashesEqual(tree.root(), first.rootHash)) {
    throw new AuditVerifyError(
      'AUDIT_BASE_MISMATCH',
      `The compact range of the dropped events 0 to ${base.size - 1} does not reproduce the root of ${describe(0, first)}, ` +
        'the signed checkpoint at the cut: the compact range was altered.',
      { details: { baseSize: base.size, checkpoint: 0 } },
    );
  }
  return tree;
}

/**
 * For a client that kept only `old`: checks that `next` (both already verified with
 * parseAndVerifyCheckpoint) extends it, given the log's consistency proof (RFC 9162 2.1.4.2).
 */
export function verifyConsistencyBetween(old: Checkpoint, next: Checkpoint, proof: readonly Uint8Array[]): void {
  if (old.origin !== next.origin) {
    throw new AuditVerifyError(
      'AUDIT_CHECKPOINT_MISMATCH',
      `The checkpoints are of different logs (${JSON.stringify(old.origin)}, ${JSON.stringify(next.origin)}).`,
    );
  }
  if (next.size < old.size) {
    throw new AuditVerifyError(
      'AUDIT_ORDER_INVALID',
      `The new checkpoint (size ${next.size}) is smaller than the kept one (size ${old.size}); a log only grows.`,
    );
  }
  try {
    verifyConsistency(old.size, next.size, proof, old.rootHash, next.rootHash);
  } catch (cause) {
    if (!(cause instanceof AuditProofError)) throw cause;
    throw new AuditVerifyError(
      'AUDIT_CHECKPOINT_MISMATCH',
      `The checkpoint of size ${next.size} is not shown to extend the kept checkpoint of size ${old.size}: ` +
        cause.message,
      { cause, details: { proofError: cause.code } },
    );
  }
}
