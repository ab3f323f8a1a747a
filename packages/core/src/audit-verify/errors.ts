import { SightlineError } from '../errors.js';

export type AuditVerifyErrorCode =
  /** The events do not reproduce a signed root: one was changed, dropped, inserted or moved. */
  | 'AUDIT_EVENT_MISMATCH'
  /** Two validly signed checkpoints disagree: the log forked, or history was rewritten after one was kept. */
  | 'AUDIT_CHECKPOINT_MISMATCH'
  /** A checkpoint fails signature, format or origin checks; `cause` holds the CheckpointError. */
  | 'AUDIT_CHECKPOINT_INVALID'
  /** Checkpoints out of order: a log only grows. */
  | 'AUDIT_ORDER_INVALID'
  /** The retention base is malformed: a compact range of the wrong shape, or no signed checkpoint at the cut. */
  | 'AUDIT_BASE_INVALID'
  /** The compact range of the dropped events does not reproduce the signed checkpoint at the cut. */
  | 'AUDIT_BASE_MISMATCH'
  /** The log starts at a cut that no kept `audit:Prune` event records: its head was removed outside retention. */
  | 'AUDIT_BASE_UNRECORDED'
  /** Events past the last checkpoint, which no signature covers. */
  | 'AUDIT_UNSIGNED_EVENTS';

export class AuditVerifyError extends SightlineError<AuditVerifyErrorCode> {}
