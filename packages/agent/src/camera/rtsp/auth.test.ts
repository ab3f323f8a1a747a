import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { CameraCredentials } from '../credentials.js';
import { chooseAuthenticator, DigestAuthenticator, parseChallenges } from './auth.js';

const PLAIN = { secure: false, allowBasicOverPlaintext: false };
const TLS = { secure: true, allowBasicOverPlaintext: false };

// RFC 7616 3.9.1: the same challenge with SHA-256 and MD5.
const RFC7616 = [
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
];
const MUFASA = CameraCredentials.from('Mufasa', 'Circle of Life');
const RFC7616_CNONCE = (): string => 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';

function field(header: string, name: string): string | undefined {
  return new RegExp(`${name}="?([^",]*)"?`).exec(header)?.[1];
}

test('Digest SHA-256 matches RFC 7616 3.9.1, and is chosen over MD5', () => {
  const auth = chooseAuthenticator(parseChallenges(RFC7616), MUFASA, PLAIN, RFC7616_CNONCE);
  const h = auth.authorization('GET', '/dir/index.html');
  assert.equal(field(h, 'response'), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  assert.match(h, /algorithm=SHA-256/);
  assert.match(h, /qop=auth, nc=00000001, cnonce="f2\/wE4q74E6zIJEtWaHKaf5wv\/H5QzzpXusqGemxURZJ"/);
  assert.match(h, /opaque="FQhe\/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"/);
  // The nonce count goes up with each request on the same nonce (RFC 7616 3.4).
  assert.match(auth.authorization('GET', '/dir/index.html'), /nc=00000002/);
});

test('Digest MD5 matches RFC 7616 3.9.1', () => {
  const [, md5] = parseChallenges(RFC7616);
  assert.ok(md5);
  const auth = new DigestAuthenticator(md5, 'MD5', MUFASA, RFC7616_CNONCE);
  assert.equal(field(auth.authorization('GET', '/dir/index.html'), 'response'), '8ca523f5e9506fed4657c9700eebdbec');
});

test('Digest MD5 with qop matches RFC 2617 3.5', () => {
  const [c] = parseChallenges([
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  ]);
  assert.ok(c);
  const auth = new DigestAuthenticator(c, 'MD5', CameraCredentials.from('Mufasa', 'Circle Of Life'), () => '0a4f113b');
  assert.equal(field(auth.authorization('GET', '/dir/index.html'), 'response'), '6629fae49393a05397450978507c4ef1');
});

test('Digest without qop (RFC 2069, what many cameras send) hashes HA1:nonce:HA2', () => {
  const auth = chooseAuthenticator(
    parseChallenges(['Digest realm="IP Camera", nonce="abc123"']),
    CameraCredentials.from('admin', 'pw'),
    PLAIN,
  );
  const h = auth.authorization('DESCRIBE', 'rtsp://10.0.0.5/stream1');
  // md5(md5("admin:IP Camera:pw"):abc123:md5("DESCRIBE:rtsp://10.0.0.5/stream1")), computed with Python's hashlib.
  assert.equal(field(h, 'response'), 'ea66bd9c431e3e7f3f84b85fb9e99bee');
  assert.doesNotMatch(h, /qop=|nc=|cnonce=/);
  assert.match(
    h,
    /^Digest username="admin", realm="IP Camera", nonce="abc123", uri="rtsp:\/\/10.0.0.5\/stream1", response="[0-9a-f]{32}"$/,
  );
});

test('Basic matches RFC 7617 and is refused over plain rtsp:// unless allowed', () => {
  const challenges = parseChallenges(['Basic realm="cam"']);
  const creds = CameraCredentials.from('Aladdin', 'open sesame');
  assert.throws(() => chooseAuthenticator(challenges, creds, PLAIN), { code: 'RTSP_AUTH_INSECURE' });
  assert.equal(chooseAuthenticator(challenges, creds, TLS).authorization('DESCRIBE', 'rtsps://x/'), 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  assert.equal(chooseAuthenticator(challenges, creds, { secure: false, allowBasicOverPlaintext: true }).scheme, 'basic');
});

test('Digest wins over Basic when both are offered (no downgrade)', () => {
  const auth = chooseAuthenticator(parseChallenges(['Basic realm="cam"', 'Digest realm="cam", nonce="n1"']), MUFASA, TLS);
  assert.equal(auth.scheme, 'digest');
});

test('several challenges in one header value are split (RFC 7235 4.1)', () => {
  const c = parseChallenges(['Basic realm="a, b", Digest realm="r", nonce="n", algorithm=MD5, stale=TRUE']);
  assert.deepEqual(
    c.map((x) => x.scheme),
    ['basic', 'digest'],
  );
  assert.equal(c[0]?.params.get('realm'), 'a, b');
  assert.equal(c[1]?.params.get('stale'), 'TRUE');
});

test('unsupported schemes and auth-int only are refused with RTSP_AUTH_FAILED', () => {
  assert.throws(() => chooseAuthenticator(parseChallenges(['Negotiate']), MUFASA, TLS), { code: 'RTSP_AUTH_FAILED' });
  assert.throws(() => chooseAuthenticator(parseChallenges(['Digest realm="r", nonce="n", qop="auth-int"']), MUFASA, TLS), {
    code: 'RTSP_AUTH_FAILED',
  });
  assert.throws(() => chooseAuthenticator(parseChallenges(['Digest realm="r", nonce="n", algorithm=SHA-512-256']), MUFASA, TLS), {
    code: 'RTSP_AUTH_FAILED',
  });
});

test('malformed challenges are protocol errors', () => {
  assert.throws(() => parseChallenges(['Digest realm="unterminated']), { code: 'RTSP_PROTOCOL_ERROR' });
  assert.throws(() => parseChallenges(['Digest realm="r", nonce="n", ' + 'x=1, '.repeat(2) + '@@@']), { code: 'RTSP_PROTOCOL_ERROR' });
  const [c] = parseChallenges([`Digest realm="r", nonce="${'a'.repeat(2000)}"`]);
  assert.ok(c);
  assert.throws(() => new DigestAuthenticator(c, 'MD5', MUFASA), { code: 'RTSP_PROTOCOL_ERROR' });
  const [noNonce] = parseChallenges(['Digest realm="r"']);
  assert.ok(noNonce);
  assert.throws(() => new DigestAuthenticator(noNonce, 'MD5', MUFASA), { code: 'RTSP_PROTOCOL_ERROR' });
});

test('camera credentials never print, and refuse user names that would break a header', () => {
  const creds = CameraCredentials.from('viewer', 'hunter2-secret');
  for (const shown of [JSON.stringify({ creds }), String(creds), inspect(creds), inspect({ creds }, { depth: 5 })]) {
    assert.ok(!shown.includes('hunter2'), shown);
    assert.ok(!shown.includes('viewer'), shown);
  }
  assert.ok(creds.appearsIn('x hunter2-secret y'));
  creds.dispose();
  assert.ok(!creds.passwordBytes().includes(Buffer.from('hunter2')));
  for (const bad of ['', 'a:b', 'a"b', 'a\\b', 'a\r\nb'])
    assert.throws(() => CameraCredentials.from(bad, 'p'), { code: 'CAMERA_SOURCE_INVALID' });
  assert.throws(() => CameraCredentials.from('u', 'x'.repeat(2000)), { code: 'CAMERA_SOURCE_INVALID' });
});
