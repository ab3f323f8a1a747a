export { AuditVerifyError, type AuditVerifyErrorCode } from './errors.js';
export { type AuditLogExport, type AuditLogResult, verifyAuditLog, verifyConsistencyBetween } from './verify-log.js';
