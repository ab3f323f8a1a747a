import { SightlineError } from '@sightline/core';
import type { deviceApi } from '@sightline/protocol';

/** The device service's codes: the refusals the agent acts on (one list, in protocol) and the operator's. */
export type DeviceErrorCode =
  'DEVICE_NOT_FOUND' | 'ALREADY_EXISTS' | 'PROVISIONING_VALIDITY_INVALID' | 'WRONG_API' | deviceApi.DeviceRefusalCode;
export class DeviceError extends SightlineError<DeviceErrorCode> {}
