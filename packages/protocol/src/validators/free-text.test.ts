import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { SensitiveFreeTextError, type SensitiveKind } from './errors.js';
import { MAX_SCREENED_LENGTH, screenFreeText, screenTags } from './free-text.js';

/** Asserts the value is refused with `kind`, and that nothing of it leaks into the error. */
function refused(value: string, kind: SensitiveKind, field = 'description'): void {
  assert.throws(
    () => screenFreeText(field, value),
    (err: unknown) => {
      assert.ok(err instanceof SensitiveFreeTextError, `not refused: ${value}`);
      assert.equal(err.code, 'SENSITIVE_FREE_TEXT');
      assert.equal(err.kind, kind, `kind for: ${value}`);
      assert.equal(err.details?.['field'], field);
      assert.ok(err.message.includes(field));
      assertNoLeak(err, value);
      return true;
    },
  );
}

/**
 * Neither the value nor any word of it holding a digit or symbol (the sensitive part: numbers,
 * addresses, tokens) shows up in the message, details or stack.
 */
function assertNoLeak(err: Error & { details?: unknown }, value: string): void {
  const said = `${err.message} ${JSON.stringify(err.details)} ${String(err.stack)}`;
  assert.ok(!said.includes(value), 'leaked the value');
  for (const piece of value.split(/[\s,;:=()"']+/)) {
    if (piece.length >= 4 && /[^A-Za-z]/.test(piece)) assert.ok(!said.includes(piece), `leaked "${piece}"`);
  }
}

const allowed = (value: string): void => {
  assert.doesNotThrow(() => screenFreeText('description', value), value);
};

test('plain names and descriptions pass, including look-alikes of sensitive data', () => {
  for (const value of [
    'camera-01',
    'Line 3 entrance 2026-11-28',
    'v1.2.3',
    'release 10.4.12-rc.1',
    '192.168.1.10',
    'gateway 10.0.0.1 and 172.16.254.1',
    '1920x1080',
    'Shelf 12 aisle 4',
    'People counter at the north gate, 25 fps, 640x480',
    'Installed 01-12-2026 10:30 by the site team',
    'Unix time 1764355200, frame 1764355200123',
    'Order 1234567890123 shipped', // 13 digits but no card issuer prefix
    'Serial 4111111111111112', // Visa prefix but fails Luhn
    'PO box 12345, building 7, floor 3',
    'tokenizer: bert-base', // "token" without an assignment
    'password rotation is handled by the secrets store',
    'secret: ', // a credential name with no value
    'admin@camera', // no domain
    'image sightline/agent@sha256', // npm/OCI style, not an email
    'C++ 17 build with -O2',
    '/var/lib/sightline/apps/people-counter/models/blazeface',
    'camera_entrance_north_parking_lot_level_2_west_gate',
    'PeopleCounterEntranceNorthParkingLevel2BuildingWest',
    'sightline-agent-v1.2.3-linux-arm64-gnu-release-candidate',
    'slk_entrance', // too short to be an API key
    '0000000000000000000000000000000000000000', // 40 hex characters, no entropy
    'https://example.com/docs/setup?page=2',
    'Phone-free zone 3',
  ]) {
    allowed(value);
  }
});

test('UUIDs are identifiers, not secrets, and pass (their digit groups are not cards or phones)', () => {
  allowed('ef360454-9846-4877-a8bd-b43a99b94639'); // "360454-9846-4877" alone would be a Diners number
  for (let i = 0; i < 2000; i++) allowed(`instance ${randomUUID()} on device ${randomUUID().toUpperCase()}`);
});

test('digests labelled with their algorithm pass; bare long hex is refused as a possible key', () => {
  const hex64 = 'd12b0091b3afcb0ae65fd3d119a0bf836297a6d757f95db45b3a76b3cad07651';
  allowed(`model sha256:${hex64}`);
  allowed('sha1:583cf196b222f95b407521fdc9ad243c16d06b69');
  refused(`model ${hex64}`, 'credential');
  refused('b881f9ccc1b3584625e2e05e592094fc', 'credential'); // a 128-bit hex key
  refused('commit 583cf196b222f95b407521fdc9ad243c16d06b69', 'credential'); // git ids: shorten them
  refused('sha256:b881f9ccc1b3584625e2e05e592094fc', 'credential'); // wrong length for the label
  allowed('12345678901234567890123456789012'); // a decimal number, not hex
});

test('email addresses are refused', () => {
  for (const value of [
    'alice@example.com',
    'Contact: first.last+cams@sub.example.co.uk',
    'mailto:ops@acme.io',
    'ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ',
  ]) {
    refused(value, 'email_address');
  }
});

test('phone numbers are refused', () => {
  for (const value of [
    '+14155552671',
    'call +44 20 7946 0958',
    '+49 (30) 1234-5678',
    '(555) 123-4567',
    'manager 555-123-4567.',
    '555.123.4567',
    '1-800-555-1234',
    '020 7946 0958',
    '01 23 45 67 89',
    '030-1234567',
  ]) {
    refused(value, 'phone_number');
  }
  allowed('+1234567'); // 7 digits: below E.164's 8
  allowed('5551234567'); // bare 10 digits: could be a Unix time or a serial
});

test('payment card numbers are refused (Luhn + issuer)', () => {
  for (const value of [
    '4111111111111111',
    'card 4111 1111 1111 1111 exp 12/27',
    '5500-0000-0000-0004',
    '2221000000000009',
    '3400 000000 00009',
    '6011000000000004',
    '3530111333300000',
    'order 12 then 4111 1111 1111 1111 123', // card followed by a CVV
    '４１１１１１１１１１１１１１１１',
  ]) {
    refused(value, 'payment_card_number');
  }
  allowed('4111 1111 1111 1112'); // fails Luhn
  allowed('1111 1111 1111 1117'); // passes Luhn, no issuer starts with 1
});

test('credentials and secrets are refused', () => {
  const cases: Record<string, string> = {
    pem: '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----',
    pkcs8: 'key: -----BEGIN PRIVATE KEY----- MIGHAgEA',
    openssh: '-----BEGIN OPENSSH PRIVATE KEY-----',
    password: 'password=hunter2',
    passwdColon: 'db passwd: s3cret',
    snake: 'DB_PASSWORD=abc',
    json: '{"api_key": "abc123"}',
    secret: 'client_secret=xyz',
    token: 'token = abc',
    apiKeyDash: 'x-api-key: abcdef',
    urlUserinfo: 'stream at rtsp://admin:pw@10.0.0.5/live',
    jwt: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    aws: 'AKIAIOSFODNN7EXAMPLE',
    awsSession: 'key ASIAY34FZKBOKMUTVV7A in use',
    github: `ghp_${'a1B2c3D4e5'.repeat(3)}abcdef`,
    githubOauth: `gho_${'Z9y8X7w6V5'.repeat(4)}`,
    githubPat: `github_pat_11ABCDEFG0${'x1Y2z3'.repeat(5)}`,
    slack: 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
    sightline: 'slk_FZurFRTsUN-nrGmFAh5YMTbx5GPEs6h2',
    base64: 'key 4TSv//UpIJ+z+LO9ZK76sXmnlXz9EP+r',
    base64long: 'R3g6RjZT7nwET6UL0zQqzXD98zfgrxYSkXAJR2JHEnrSTCy/X2q6ISHbuf5YqpQ2',
    base64url: 'b-YGH9sdLdymHTmtGGG_7o8tHRoYkRIpsqYqwqytQPQ',
    base32: 'JBSWY3DPEHPK3PXPGEZDGNBVGY3TQOJQ',
  };
  for (const [name, value] of Object.entries(cases)) {
    assert.throws(
      () => screenFreeText('notes', value),
      (err: unknown) => {
        assert.ok(err instanceof SensitiveFreeTextError, name);
        assert.equal(err.kind, 'credential', name);
        assertNoLeak(err, value);
        return true;
      },
      name,
    );
  }
});

test('random base64 tokens are caught nearly always (the entropy threshold is not fragile)', () => {
  let caught = 0;
  for (let i = 0; i < 500; i++) {
    try {
      screenFreeText('notes', randomBytes(24).toString('base64')); // 32 characters
    } catch {
      caught++;
    }
  }
  assert.ok(caught >= 480, `caught ${caught}/500`); // 99.4% expected: about 3 misses
});

test('error message and details never carry the value', () => {
  const value = 'reach me at jane.doe@example.org or +44 20 7946 0958';
  try {
    screenFreeText('camera.description', value);
    assert.fail('not refused');
  } catch (err) {
    assert.ok(err instanceof SensitiveFreeTextError);
    assert.deepEqual(Object.keys(err.details ?? {}).sort(), ['detector', 'field', 'kind']);
    assertNoLeak(err, value);
    assert.ok(!err.message.includes('jane'));
    assert.ok(!err.message.includes('7946'));
  }
});

test('over-long text is refused before scanning, and scanning stays fast at the cap', () => {
  assert.throws(() => screenFreeText('d', 'a'.repeat(MAX_SCREENED_LENGTH + 1)), { code: 'TEXT_TOO_LONG' });
  // Inputs built to make backtracking patterns slow: long runs of one class with no match.
  for (const evil of [
    'a'.repeat(MAX_SCREENED_LENGTH),
    '1 '.repeat(MAX_SCREENED_LENGTH / 2),
    'a.'.repeat(MAX_SCREENED_LENGTH / 2),
    `${'x@'.repeat(MAX_SCREENED_LENGTH / 2)}`,
  ]) {
    const start = performance.now();
    try {
      screenFreeText('d', evil);
    } catch {
      // the verdict does not matter here, only the time
    }
    assert.ok(performance.now() - start < 1000, 'screening took over a second');
  }
});

test('screenTags screens keys and values and enforces the caps', () => {
  assert.doesNotThrow(() => screenTags({ site: 'north-gate', line: '3', 'cost-centre': 'CC-1042' }));
  assert.throws(
    () => screenTags({ owner: 'bob@example.com' }),
    (err: unknown) => {
      assert.ok(err instanceof SensitiveFreeTextError);
      assert.equal(err.field, 'tags.owner');
      return true;
    },
  );
  assert.throws(
    () => screenTags({ 'bob@example.com': 'owner' }),
    (err: unknown) => {
      assert.ok(err instanceof SensitiveFreeTextError);
      assert.ok(!err.message.includes('bob'));
      return true;
    },
  );
  const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
  assert.throws(() => screenTags(many), { code: 'TAGS_TOO_MANY' });
  assert.doesNotThrow(() => screenTags(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']))));
  assert.throws(() => screenTags({ ['k'.repeat(129)]: 'v' }), { code: 'TAG_KEY_INVALID' });
  assert.throws(() => screenTags({ '': 'v' }), { code: 'TAG_KEY_INVALID' });
  assert.doesNotThrow(() => screenTags({ ['k'.repeat(128)]: 'v'.repeat(256) }));
  assert.throws(() => screenTags({ k: 'v'.repeat(257) }), { code: 'TAG_VALUE_TOO_LONG' });
});
