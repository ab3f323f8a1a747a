import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { base32Decode, base32Encode } from './base32.js';
import { generateTotpSecret, hotp, otpauthUri, totpCode, totpCounter, verifyTotp, type TotpAlgorithm } from './totp.js';

const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'ascii'));
// RFC 6238 Appendix B seeds: the 20-byte RFC 4226 seed repeated to the hash's block length.
const SEEDS: Record<TotpAlgorithm, Uint8Array> = {
  SHA1: ascii('12345678901234567890'),
  SHA256: ascii('12345678901234567890123456789012'),
  SHA512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
};
const RFC4226_SECRET = SEEDS.SHA1;

const codeOf = (err: unknown): unknown => (err instanceof Error && 'code' in err ? err.code : undefined);
const throwsCode = (fn: () => unknown, code: string): void => {
  assert.throws(fn, (err: unknown) => codeOf(err) === code);
};

test('hotp matches RFC 4226 Appendix D', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  expected.forEach((code, counter) => assert.equal(hotp(RFC4226_SECRET, counter), code));
});

test('totpCode matches RFC 6238 Appendix B (8 digits, SHA-1/256/512)', () => {
  const table: ReadonlyArray<readonly [number, string, string, string]> = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [seconds, sha1, sha256, sha512] of table) {
    const expected: Record<TotpAlgorithm, string> = { SHA1: sha1, SHA256: sha256, SHA512: sha512 };
    for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
      const options = { algorithm, digits: 8 };
      assert.equal(totpCode(SEEDS[algorithm], seconds * 1000, options), expected[algorithm], `${algorithm} @ ${seconds}`);
      assert.equal(verifyTotp(SEEDS[algorithm], expected[algorithm], seconds * 1000, options), Math.floor(seconds / 30));
    }
  }
});

test('the default is 6 digits: the last 6 of the RFC 6238 SHA-1 values', () => {
  assert.equal(totpCode(SEEDS.SHA1, 59_000), '287082');
  assert.equal(totpCode(SEEDS.SHA1, 1111111109_000), '081804');
});

const oathtoolMissing = ((): string | false => {
  try {
    execFileSync('oathtool', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'oathtool is not installed (Debian package oathtool); the interop test needs it';
  }
})();

test('interoperates with oathtool in both directions', { skip: oathtoolMissing }, () => {
  const secret = generateTotpSecret();
  const b32 = base32Encode(secret);
  const seconds = 1_764_355_200; // 2025-11-28T18:40:00Z, pinned with oathtool's --now
  for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
    for (const digits of [6, 8]) {
      const args = [`--totp=${algorithm}`, '--base32', `--digits=${digits}`, `--now=@${seconds}`, b32];
      const theirs = execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
      assert.equal(verifyTotp(secret, theirs, seconds * 1000, { algorithm, digits, window: 0 }), Math.floor(seconds / 30));
      // oathtool exits non-zero when the code it is given does not validate.
      const ours = totpCode(secret, seconds * 1000, { algorithm, digits });
      execFileSync('oathtool', [...args, ours], { stdio: 'ignore' });
    }
  }
});

test('window: frozen clock at the edges of a step', () => {
  const secret = RFC4226_SECRET;
  const step = 30_000;
  const t = 1_000 * step; // first millisecond of counter 1000
  const code999 = hotp(secret, 999);
  const code1000 = hotp(secret, 1000);
  const code1001 = hotp(secret, 1001);
  const code1002 = hotp(secret, 1002);
  assert.equal(totpCounter(t - 1), 999);
  assert.equal(totpCounter(t), 1000);
  assert.equal(totpCounter(t + step - 1), 1000);
  assert.equal(verifyTotp(secret, code1000, t + step - 1), 1000);
  assert.equal(verifyTotp(secret, code999, t), 999); // one step late: accepted with window 1
  assert.equal(verifyTotp(secret, code1001, t), 1001); // one step early: accepted
  throwsCode(() => verifyTotp(secret, code1002, t), 'TOTP_INVALID'); // two steps early
  throwsCode(() => verifyTotp(secret, code999, t + step), 'TOTP_INVALID'); // two steps late
  throwsCode(() => verifyTotp(secret, code999, t, { window: 0 }), 'TOTP_INVALID');
  assert.equal(verifyTotp(secret, code1002, t, { window: 2 }), 1002);
  throwsCode(() => verifyTotp(secret, code1000, t, { window: 11 }), 'TOTP_OPTIONS_INVALID');
  // Near the epoch there are no negative counters to try.
  assert.equal(verifyTotp(secret, hotp(secret, 0), 0), 0);
});

test('replay: a code for the last accepted counter or earlier is refused', () => {
  const secret = RFC4226_SECRET;
  const t = 1000 * 30_000;
  const code = totpCode(secret, t);
  const counter = verifyTotp(secret, code, t);
  throwsCode(() => verifyTotp(secret, code, t, { lastCounter: counter }), 'TOTP_REPLAYED');
  throwsCode(() => verifyTotp(secret, hotp(secret, 999), t, { lastCounter: counter }), 'TOTP_REPLAYED');
  assert.equal(verifyTotp(secret, hotp(secret, 1001), t, { lastCounter: counter }), 1001);
});

test('malformed codes are refused before any comparison', () => {
  const t = 59_000;
  for (const bad of ['', '28708', '2870822', ' 287082', '287082 ', '28708a', '+87082', '２８７０８２', '٢٨٧٠٨٢']) {
    throwsCode(() => verifyTotp(SEEDS.SHA1, bad, t), 'TOTP_MALFORMED');
  }
  throwsCode(() => verifyTotp(SEEDS.SHA1, '287082', t, { digits: 8 }), 'TOTP_MALFORMED');
  throwsCode(() => verifyTotp(SEEDS.SHA1, 287082 as unknown as string, t), 'TOTP_MALFORMED');
  throwsCode(() => verifyTotp(SEEDS.SHA1, '000000', t), 'TOTP_INVALID');
});

test('bad secrets and options throw typed errors', () => {
  throwsCode(() => totpCode(new Uint8Array(15), 0), 'TOTP_SECRET_INVALID'); // RFC 4226 §4 R6
  throwsCode(() => totpCode(SEEDS.SHA1, 0, { digits: 5 }), 'TOTP_OPTIONS_INVALID');
  throwsCode(() => totpCode(SEEDS.SHA1, 0, { algorithm: 'MD5' as TotpAlgorithm }), 'TOTP_OPTIONS_INVALID');
  throwsCode(() => totpCode(SEEDS.SHA1, 0, { period: 0 }), 'TOTP_OPTIONS_INVALID');
  throwsCode(() => totpCode(SEEDS.SHA1, -1), 'TOTP_OPTIONS_INVALID');
  throwsCode(() => totpCode(SEEDS.SHA1, Number.NaN), 'TOTP_OPTIONS_INVALID');
  throwsCode(() => hotp(SEEDS.SHA1, -1), 'TOTP_OPTIONS_INVALID');
});

test('generateTotpSecret gives 20 fresh random bytes', () => {
  const a = generateTotpSecret();
  assert.equal(a.length, 20);
  assert.notDeepEqual(a, generateTotpSecret());
});

test('otpauthUri builds a Key URI with percent-encoded label and issuer', () => {
  const secret = base32Decode('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
  assert.equal(
    otpauthUri({ issuer: 'Sightline', account: 'alice@example.com', secret }),
    'otpauth://totp/Sightline:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Sightline&algorithm=SHA1&digits=6&period=30',
  );
  const uri = otpauthUri({ issuer: 'ACME Co & Sons (EU)', account: 'bob smith', secret, algorithm: 'SHA256', digits: 8 });
  assert.equal(
    uri,
    'otpauth://totp/ACME%20Co%20%26%20Sons%20%28EU%29:bob%20smith?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=ACME%20Co%20%26%20Sons%20%28EU%29&algorithm=SHA256&digits=8&period=30',
  );
  const parsed = new URL(uri);
  assert.equal(parsed.searchParams.get('issuer'), 'ACME Co & Sons (EU)');
  throwsCode(() => otpauthUri({ issuer: 'A:B', account: 'x', secret }), 'TOTP_OPTIONS_INVALID');
  throwsCode(() => otpauthUri({ issuer: 'A', account: '', secret }), 'TOTP_OPTIONS_INVALID');
});

test('otpauthUri takes the secret as bytes or as base32 text', () => {
  const secret = generateTotpSecret();
  const fromBytes = otpauthUri({ issuer: 'Sightline', account: 'alice', secret });
  assert.equal(otpauthUri({ issuer: 'Sightline', account: 'alice', secret: base32Encode(secret).toLowerCase() }), fromBytes);
  throwsCode(() => otpauthUri({ issuer: 'Sightline', account: 'alice', secret: 'not base32!' }), 'BASE32_INVALID');
  throwsCode(() => otpauthUri({ issuer: 'Sightline', account: 'alice', secret: 'JBSWY3DP' }), 'TOTP_SECRET_INVALID');
});
