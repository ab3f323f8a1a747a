import type { Principal } from '../http/router.js';
import { SecretError } from './secret-errors.js';

/** Where a secret lives. */
export interface SecretRef {
  project: string;
  name: string;
}

/**
 * Answers whether a device runs an app whose deployment uses a camera bound
 * to a secret (seed point 18). Devices, cameras and deployments arrive with
 * later issues; they implement this. Until then `noBindings` denies all.
 */
export interface SecretBindingLookup {
  deviceMayRead(deviceId: string, project: string, secretName: string): Promise<boolean>;
}

/** The lookup in effect until devices and deployments exist: no device may read any secret. */
export const noBindings: SecretBindingLookup = {
  deviceMayRead: () => Promise.resolve(false),
};

/**
 * Who may read a secret's value through the people's API. Issue 4: "`get`
 * requires an explicit flag and MFA-present sessions"; seed point 3 (MFA on
 * every account). Policy (`secret:ReadValue`) is checked before this; this
 * adds what a policy cannot loosen.
 */
export function assertPersonMayReadValue(principal: Pick<Principal, 'type' | 'mfaPresent'>): void {
  switch (principal.type) {
    case 'user':
      // A session that passed TOTP in this sign-in; a password-only session is refused.
      if (!principal.mfaPresent) {
        throw new SecretError(
          'MFA_REQUIRED_FOR_SECRET',
          'Reading a secret value needs a session signed in with an MFA code: sign in again with your TOTP code ("sightline login").',
        );
      }
      return;
    case 'apikey':
      // Automation holds no second factor, so it never reads values; devices read through their own API.
      throw new SecretError(
        'MFA_REQUIRED_FOR_SECRET',
        'API keys cannot read secret values: sign in as a person with an MFA code ("sightline login"), then "sightline secret get NAME --reveal".',
      );
    case 'device':
      throw new SecretError('WRONG_API', "Devices read the secrets of their cameras through the device API, not the people's API.");
  }
}

/**
 * Seed point 18 ("the appliance role may read them"), narrowed: a device may
 * read a secret only while an app deployed on it uses a camera bound to that
 * secret. `bound` is the lookup's answer for exactly this device and secret;
 * anything but a device principal is refused.
 */
export function assertDeviceMayRead(principal: { type: Principal['type'] | 'system'; id: string }, ref: SecretRef, bound: boolean): void {
  if (principal.type !== 'device') {
    throw new SecretError(
      'WRONG_API',
      'Only devices read secrets through the device path; people use "sightline secret get NAME --reveal".',
    );
  }
  if (!bound) {
    throw new SecretError(
      'SECRET_NOT_BOUND_TO_DEVICE',
      `No app deployed on this device uses a camera bound to secret "${ref.name}" in project ${ref.project}.`,
      {
        details: { project: ref.project, secret: ref.name },
      },
    );
  }
}
