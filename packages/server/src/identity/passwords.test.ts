import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPassword, generatePassword, hashPassword, PasswordError, verifyPassword } from './passwords.js';

function reason(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PasswordError);
    assert.equal(err.code, 'PASSWORD_REJECTED');
    return err.details?.['reason'];
  }
  return 'accepted';
}

test('NIST 800-63B lengths: 8 with MFA, 15 without', () => {
  assert.equal(reason(() => checkPassword('tulip-Orbit', { mfa: true, userName: 'alice' })), 'accepted');
  assert.equal(reason(() => checkPassword('tulip-Orbit', { mfa: false, userName: 'alice' })), 'too-short');
  assert.equal(reason(() => checkPassword('tulip orbit canal', { mfa: false, userName: 'alice' })), 'accepted');
  assert.equal(reason(() => checkPassword('short7!', { mfa: true, userName: 'alice' })), 'too-short');
  assert.equal(reason(() => checkPassword('x'.repeat(300), { mfa: true, userName: 'alice' })), 'too-long');
});

test('no composition rules: lower-case words pass, common passwords fail', () => {
  assert.equal(reason(() => checkPassword('correct horse battery', { mfa: true, userName: 'bob' })), 'accepted');
  assert.equal(reason(() => checkPassword('password123', { mfa: true, userName: 'bob' })), 'common');
  assert.equal(reason(() => checkPassword('Qwertyuiop', { mfa: true, userName: 'bob' })), 'common');
  assert.equal(reason(() => checkPassword('aaaaaaaaaaaa', { mfa: true, userName: 'bob' })), 'repetitive');
  assert.equal(reason(() => checkPassword('my-name-is-carol!', { mfa: true, userName: 'carol' })), 'context');
});

test('argon2id hashes verify and never contain the password', async () => {
  const pw = generatePassword();
  assert.equal(pw.length, 24);
  const h = await hashPassword(pw);
  assert.match(h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.ok(!h.includes(pw));
  assert.equal(await verifyPassword(h, pw), true);
  assert.equal(await verifyPassword(h, `${pw}x`), false);
  assert.equal(await verifyPassword('not-a-hash', pw), false);
});

test('FIPS mode hashes with PBKDF2-HMAC-SHA-256, and both schemes verify', async () => {
  const pw = 'correct horse battery staple';
  const stored = await hashPassword(pw, { fips: true });
  assert.match(stored, /^\$pbkdf2-sha256\$i=600000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  assert.ok(!stored.includes(pw));
  assert.equal(await verifyPassword(stored, pw), true);
  assert.equal(await verifyPassword(stored, `${pw}!`), false);
  // Computed by Python's hashlib.pbkdf2_hmac('sha256', pw, 16 x 0x01, 100000, 32): the scheme interoperates.
  const python = '$pbkdf2-sha256$i=100000$AQEBAQEBAQEBAQEBAQEBAQ==$7b8mI1c1dIIJEK9zbMxoxIcs/qGPnP2Y+SDJxbmWZiw=';
  assert.equal(await verifyPassword(python, pw), true);
  // A stored hash weakened to few iterations is refused even when it matches.
  const weak = '$pbkdf2-sha256$i=1000$AQEBAQEBAQEBAQEBAQEBAQ==$7b8mI1c1dIIJEK9zbMxoxIcs/qGPnP2Y+SDJxbmWZiw=';
  assert.equal(await verifyPassword(weak, pw), false);
  assert.equal(await verifyPassword(await hashPassword(pw, { fips: false }), pw), true);
});
