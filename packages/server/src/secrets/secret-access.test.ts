import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertDeviceMayRead, assertPersonMayReadValue } from './secret-access.js';
import { SecretError } from './secret-errors.js';

const code = (c: string) => (e: unknown) => e instanceof SecretError && e.code === c;
const ref = { project: 'default', name: 'cam-1-credentials' };

test('people: only a user session that passed MFA reads values; API keys and devices never', () => {
  assert.doesNotThrow(() => assertPersonMayReadValue({ type: 'user', mfaPresent: true }));
  assert.throws(() => assertPersonMayReadValue({ type: 'user', mfaPresent: false }), code('MFA_REQUIRED_FOR_SECRET'));
  // An API key cannot carry MFA, even if something claimed it did.
  assert.throws(() => assertPersonMayReadValue({ type: 'apikey', mfaPresent: true }), code('MFA_REQUIRED_FOR_SECRET'));
  assert.throws(() => assertPersonMayReadValue({ type: 'device', mfaPresent: false }), code('WRONG_API'));
});

test('devices: allowed only when bound; anything but a device is refused whatever the lookup says', () => {
  assert.doesNotThrow(() => assertDeviceMayRead({ type: 'device', id: 'dev-1' }, ref, true));
  assert.throws(() => assertDeviceMayRead({ type: 'device', id: 'dev-1' }, ref, false), code('SECRET_NOT_BOUND_TO_DEVICE'));
  for (const type of ['user', 'apikey', 'system'] as const) {
    assert.throws(() => assertDeviceMayRead({ type, id: 'x' }, ref, true), code('WRONG_API'), type);
  }
});
