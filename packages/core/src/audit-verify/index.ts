export { AuditVerifyError, type AuditVerifyErrorCode } from './errors.js';
export { type AuditLogBase, type AuditLogExport, type AuditLogResult, verifyAuditLog, verifyConsistencyBetween } from './verify-log.js';
export { RETENTION_CUT_ACTION, recordsRetentionCut } from './retention.js';
