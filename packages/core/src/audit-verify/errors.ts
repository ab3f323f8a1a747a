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
  /** Events past the last checkpoint, which no signature covers. */
  | 'AUDIT_UNSIGNED_EVENTS';

export class AuditVerifyError extends SightlineError<AuditVerifyErrorCode> {}
