import { SightlineError } from '@sightline/core';

export type DeviceErrorCode =
  | 'DEVICE_NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PROVISIONING_CERT_USED'
  | 'PROVISIONING_CERT_EXPIRED'
  | 'PROVISIONING_VALIDITY_INVALID'
  | 'CSR_INVALID'
  | 'CSR_NAME_MISMATCH'
  | 'CERT_REQUIRED'
  | 'CERT_UNTRUSTED'
  | 'CERT_REVOKED'
  | 'CERT_EXPIRED'
  | 'CERT_WRONG_KIND'
  | 'DEVICE_DEREGISTERED'
  | 'DEVICE_NOT_REGISTERED'
  | 'JOB_NOT_FOUND'
  | 'WRONG_API';
export class DeviceError extends SightlineError<DeviceErrorCode> {}
