import { SightlineError } from '@sightline/core';

export type AccessErrorCode = 'ALREADY_EXISTS' | 'POLICY_NOT_FOUND' | 'POLICY_IN_USE' | 'ROLE_UNKNOWN' | 'GRANT_NOT_FOUND' | 'LAST_ADMIN';
export class AccessError extends SightlineError<AccessErrorCode> {}
