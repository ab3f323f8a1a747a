import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { credentialFreeUrl, safeName, safeText } from './zod.js';

const camera = z.object({
  name: safeName('name'),
  description: safeText('description', { max: 200 }),
  url: credentialFreeUrl('url', { schemes: ['rtsp', 'rtsps'] }),
});

const good = { name: 'camera-01', description: 'Line 3 entrance 2026-11-28', url: 'rtsps://cam-01.local/stream1' };

/** The single issue for `input`, checked to hold our code and nothing of the input. */
function issueFor(input: unknown, secret?: string): z.core.$ZodIssue {
  const result = camera.safeParse(input);
  assert.equal(result.success, false);
  assert.equal(result.error?.issues.length, 1);
  const issue = result.error.issues[0]!;
  assert.equal(issue.code, 'custom');
  if (secret !== undefined) {
    assert.ok(!JSON.stringify(result.error.issues).includes(secret), 'the issue carries the input');
    assert.ok(!result.error.message.includes(secret));
  }
  return issue;
}

test('valid input parses unchanged', () => {
  assert.deepEqual(camera.parse(good), good);
});

test('a sensitive description becomes a custom issue with params.code', () => {
  const issue = issueFor({ ...good, description: 'call jane@example.com' }, 'jane@example.com');
  assert.deepEqual(issue.path, ['description']);
  assert.ok(issue.code === 'custom');
  assert.deepEqual(issue.params, { code: 'SENSITIVE_FREE_TEXT', field: 'description', kind: 'email_address', detector: 'email' });
});

test('a URL with credentials becomes a CREDENTIALS_IN_URL issue', () => {
  const issue = issueFor({ ...good, url: 'rtsp://admin:hunter2@cam/stream' }, 'hunter2');
  assert.ok(issue.code === 'custom');
  assert.equal(issue.params?.['code'], 'CREDENTIALS_IN_URL');
  assert.match(issue.message, /credentials field/);
  const scheme = issueFor({ ...good, url: 'http://cam/stream' }, 'http://cam');
  assert.ok(scheme.code === 'custom');
  assert.equal(scheme.params?.['code'], 'URL_SCHEME_NOT_ALLOWED');
});

test('names: shape, length and screening', () => {
  for (const name of ['', '-cam', 'cam 01', 'cam/01', 'a'.repeat(65), 'café']) {
    const issue = issueFor({ ...good, name });
    assert.ok(issue.code === 'custom');
    assert.equal(issue.params?.['code'], 'NAME_INVALID', name);
  }
  assert.doesNotThrow(() => safeName('name').parse('a'.repeat(64)));
  assert.doesNotThrow(() => safeName('name').parse('cam_01.v2'));
  const phone = issueFor({ ...good, name: '555-123-4567' }, '4567');
  assert.ok(phone.code === 'custom');
  assert.equal(phone.params?.['code'], 'SENSITIVE_FREE_TEXT');
  assert.equal(phone.params?.['kind'], 'phone_number');
});

test('text over max gets TEXT_TOO_LONG', () => {
  const issue = issueFor({ ...good, description: 'x'.repeat(201) }, 'x'.repeat(201));
  assert.ok(issue.code === 'custom');
  assert.deepEqual(issue.params, { code: 'TEXT_TOO_LONG', field: 'description', max: 200 });
});

test('the input is left out of the whole error by default', () => {
  const result = camera.safeParse({ ...good, description: 'password=hunter2' });
  assert.equal(result.success, false);
  assert.ok(!JSON.stringify(result.error).includes('hunter2'));
});
