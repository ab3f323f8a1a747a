import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CredentialsInUrlError, ValidationError } from './errors.js';
import { assertNoCredentialsInUrl, MAX_URL_LENGTH } from './url.js';

const CAMERA = { schemes: ['rtsp', 'rtsps'] } as const;

function refusedWith(url: string, code: string, where?: 'userinfo' | 'query'): void {
  assert.throws(
    () => assertNoCredentialsInUrl('url', url, CAMERA),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, url);
      assert.equal(err.code, code, url);
      assert.equal(err.details?.['field'], 'url');
      if (where !== undefined) assert.equal(err.details?.['where'], where, url);
      // Never echo the URL or its credentials.
      const said = `${err.message} ${JSON.stringify(err.details)} ${String(err.stack)}`;
      for (const secret of ['admin', 'hunter2', 's3cret', url]) assert.ok(!said.includes(secret), `leaked ${secret}`);
      return true;
    },
  );
}

test('URLs without credentials pass and come back parsed', () => {
  const url = assertNoCredentialsInUrl('url', 'rtsps://cam-01.local:322/stream1?channel=1&subtype=0', CAMERA);
  assert.equal(url.hostname, 'cam-01.local');
  assert.equal(url.port, '322');
  assert.doesNotThrow(() => assertNoCredentialsInUrl('url', 'rtsp://192.168.1.10/live/ch00_0', CAMERA));
  assert.doesNotThrow(() => assertNoCredentialsInUrl('url', 'rtsp://[fd00::10]:554/path@with-at-in-path', CAMERA));
  assert.doesNotThrow(() => assertNoCredentialsInUrl('webhook', 'https://hooks.example.com/notify?user=ops#top'));
});

test('user-info is refused with a pointer to the credentials field', () => {
  for (const url of [
    'rtsp://admin:hunter2@10.0.0.5:554/stream',
    'rtsp://admin@10.0.0.5/stream',
    'rtsp://admin:@10.0.0.5/stream',
    'rtsp://:hunter2@10.0.0.5/stream',
    'rtsp://admin:hunter2@@10.0.0.5/stream', // doubled @
    'rtsp://admin:hun@ter2@10.0.0.5/stream', // @ in the password
    'rtsp://admin%40corp:s3cret@10.0.0.5/stream',
    '  rtsp://admin:hunter2@10.0.0.5/stream',
    'rtsp://ad\tmin:hunter2@10.0.0.5/', // the parser drops the tab
    'RTSP://admin:hunter2@10.0.0.5/',
  ]) {
    refusedWith(url, 'CREDENTIALS_IN_URL', 'userinfo');
  }
  try {
    assertNoCredentialsInUrl('camera.url', 'rtsp://admin:hunter2@cam/', CAMERA);
  } catch (err) {
    assert.ok(err instanceof CredentialsInUrlError);
    assert.equal(
      err.message,
      'Move the user name and password out of camera.url into the credentials field (--username/--password-stdin).',
    );
  }
});

test('user-info in forms the WHATWG parser rewrites or rejects is still refused as credentials', () => {
  for (const url of [
    'http:admin:hunter2@example.com/', // special scheme, no slashes
    'https:\\\\admin:hunter2@example.com/', // backslashes
    'http:/admin:hunter2@example.com/',
    'rtsp://admin:hunter2@[bad host/stream', // unparseable
    'rtsp://admin:hunter2@ /stream',
  ]) {
    assert.throws(() => assertNoCredentialsInUrl('url', url), { code: 'CREDENTIALS_IN_URL' }, url);
  }
});

test('credential-named query and fragment parameters are refused', () => {
  for (const url of [
    'rtsp://cam/stream?user=admin&password=hunter2',
    'rtsp://cam/stream?PWD=hunter2',
    'rtsp://cam/stream?pass%77ord=hunter2', // percent-encoded name
    'rtsp://cam/stream?token=s3cret',
    'rtsp://cam/stream?api_key=s3cret',
    'rtsp://cam/stream?X-Amz-Signature=s3cret',
    'rtsp://cam/stream?key=s3cret',
    'rtsps://cam/stream#access_token=s3cret',
  ]) {
    refusedWith(url, 'CREDENTIALS_IN_URL', 'query');
  }
});

test('bad URLs, schemes and lengths get their own codes', () => {
  refusedWith('not a url', 'URL_INVALID');
  refusedWith('rtsp://', 'URL_INVALID');
  refusedWith('rtsp:/stream', 'URL_INVALID'); // no host
  refusedWith('http://cam/stream', 'URL_SCHEME_NOT_ALLOWED');
  refusedWith(`rtsp://cam/${'a'.repeat(MAX_URL_LENGTH)}`, 'URL_INVALID');
  // Without a scheme list any scheme with a host passes.
  assert.doesNotThrow(() => assertNoCredentialsInUrl('url', 'http://cam/stream'));
});

test('mailto-like opaque URLs are not mistaken for user-info', () => {
  // No authority, so not credentials; but no host either, so not a usable URL.
  assert.throws(() => assertNoCredentialsInUrl('url', 'mailto:ops@example.com'), { code: 'URL_INVALID' });
});
