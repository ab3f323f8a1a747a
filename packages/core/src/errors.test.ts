import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SightlineError, isSightlineError } from './errors.js';

test('SightlineError carries a stable code, frozen details and the cause', () => {
  const cause = new Error('inner');
  const err = new SightlineError('SOME_CODE', 'Do this next.', { cause, details: { field: 'name' } });
  assert.equal(err.code, 'SOME_CODE');
  assert.equal(err.name, 'SightlineError');
  assert.equal(err.cause, cause);
  assert.deepEqual(err.details, { field: 'name' });
  assert.ok(Object.isFrozen(err.details));
  assert.ok(isSightlineError(err));
  assert.ok(!isSightlineError(new Error('x')));
});
