import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SdkError } from './errors.js';
import { parseDescriptor, resolveParameters } from './descriptor.js';

const good = {
  name: 'demo',
  version: '1.0.0',
  entry: 'src/app.ts',
  resources: { memoryMiB: 128, cpuShare: 0.5, diskMiB: 4 },
  parameters: {
    threshold: { type: 'number', default: 0.5, min: 0, max: 1, overridable: true },
    mode: { type: 'string', default: 'a', choices: ['a', 'b'], overridable: true },
    fixed: { type: 'boolean', default: true },
  },
  inputs: { video_in: { type: 'video' } },
  outputs: { video_out: { type: 'video' } },
};

function faultAt(value: unknown): string {
  try {
    parseDescriptor(value);
  } catch (e) {
    assert.ok(e instanceof SdkError);
    assert.equal(e.code, 'DESCRIPTOR_INVALID');
    return String(e.details?.path);
  }
  assert.fail('accepted');
}

test('a good descriptor parses, with defaults filled in', () => {
  const d = parseDescriptor(good);
  assert.deepEqual(d.models, {});
  assert.equal(d.parameters.fixed!.overridable, false);
});

test('bad descriptors are refused naming the faulty key', () => {
  assert.equal(faultAt({ ...good, resources: { ...good.resources, memoryMib: 1 } }), 'resources');
  assert.equal(faultAt({ ...good, entry: '../outside.js' }), 'entry');
  assert.equal(faultAt({ ...good, entry: '/abs.js' }), 'entry');
  assert.equal(faultAt({ ...good, parameters: { t: { type: 'number', default: 'x' } } }), 'parameters.t.default');
  assert.equal(faultAt({ ...good, parameters: { t: { type: 'number', default: 5, max: 1 } } }), 'parameters.t');
  assert.equal(faultAt({ ...good, inputs: { 'Video In': { type: 'video' } } }), 'inputs.Video In');
  assert.equal(faultAt({ ...good, outputs: { video_out: { type: 'audio' } } }), 'outputs.video_out.type');
  assert.equal(faultAt({ ...good, extra: 1 }), '(root)');
});

test('overrides: typed, overridable only, in range, declared only', () => {
  const d = parseDescriptor(good);
  assert.deepEqual(resolveParameters(d, {}), { threshold: 0.5, mode: 'a', fixed: true });
  assert.deepEqual(resolveParameters(d, { threshold: 0.9, mode: 'b' }), { threshold: 0.9, mode: 'b', fixed: true });
  const refused = (o: Record<string, unknown>, why: RegExp) =>
    assert.throws(
      () => resolveParameters(d, o),
      (e: unknown) => e instanceof SdkError && e.code === 'PARAMETER_INVALID' && why.test(e.message),
    );
  refused({ threshold: '0.9' }, /must be a number/);
  refused({ threshold: 2 }, /at most 1/);
  refused({ threshold: Number.NaN }, /finite/);
  refused({ mode: 'c' }, /one of a, b/);
  refused({ fixed: false }, /not overridable/);
  refused({ nope: 1 }, /not declared/);
  assert.ok(Object.isFrozen(resolveParameters(d, {})));
});
