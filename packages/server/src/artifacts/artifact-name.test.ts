import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSightlineError } from '@sightline/core';
import { parseSrn } from '../policy/srn.js';
import { artifactSrn, assertArtifactName, assertArtifactPrefix } from './artifact-name.js';

const code = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isSightlineError(e) ? e.code : 'not a SightlineError';
  }
};

test('names that follow the SRN rules are accepted and make valid SRNs', () => {
  for (const name of [
    'x',
    'models/blazeface/1.0.0.onnx',
    'pkg/app_one/2026.01.15/bundle.js',
    'a-b.c_d/E9',
    'content',
    'x'.repeat(256),
    'models/v1.2.3-rc.1.onnx',
  ]) {
    assert.equal(
      code(() => assertArtifactName(name)),
      undefined,
      name,
    );
    assert.equal(parseSrn(artifactSrn('default', name)).name, name);
  }
});

test('bad names are ARTIFACT_NAME_INVALID: empty, too long, empty/dot segments, other characters, reserved last segment', () => {
  for (const name of [
    '',
    'x'.repeat(257),
    '/a',
    'a/',
    'a//b',
    '.',
    '..',
    'a/../b',
    'a/./b',
    'a b',
    'a\\b',
    'a%2Fb',
    'ünï',
    'a\u0000b',
    'a/content',
    'm/x/content',
  ]) {
    assert.equal(
      code(() => assertArtifactName(name)),
      'ARTIFACT_NAME_INVALID',
      JSON.stringify(name),
    );
  }
});

test('personal data in a name is SENSITIVE_FREE_TEXT (screened first, as safeName does)', () => {
  assert.equal(
    code(() => assertArtifactName('jane.doe@example.com')),
    'SENSITIVE_FREE_TEXT',
  );
  assert.equal(
    code(() => assertArtifactName('models/4111-1111-1111-1111.onnx')),
    'SENSITIVE_FREE_TEXT',
  );
});

test('prefixes: name characters only, may end mid-segment or in "/"', () => {
  for (const p of ['', 'models/', 'models/bla', 'a_'])
    assert.equal(
      code(() => assertArtifactPrefix(p)),
      undefined,
      p,
    );
  for (const p of ['%', 'a b', 'x'.repeat(257), 'a*'])
    assert.equal(
      code(() => assertArtifactPrefix(p)),
      'ARTIFACT_NAME_INVALID',
      p,
    );
});
