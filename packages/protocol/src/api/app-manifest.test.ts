import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appManifestJsonSchema,
  ManifestInvalidError,
  parseManifest,
  parseOverrides,
  resolveManifest,
  type CodePorts,
  type PackageLookupFn,
} from './app-manifest.js';
import { privacyBlurManifest } from './app-manifest.fixture.js';

const blur: CodePorts = {
  inputs: { video_in: { type: 'video' } },
  outputs: { video_out: { type: 'video' } },
  models: { face: { package: 'blazeface' } },
  parameters: {
    threshold: { type: 'number', default: 0.75, min: 0, max: 1, overridable: true },
    tile: { type: 'boolean', default: false, overridable: false },
  },
};
const face = {
  name: 'blazeface',
  version: '1.0.0',
  file: 'model.onnx',
  input: { name: 'input', shape: [1, 256, 256, 3], layout: 'NHWC' as const, mean: [0, 0, 0], std: [1, 1, 1] },
  outputs: ['boxes'],
};
const lookup: PackageLookupFn = (name, version) => {
  if (name === 'privacy-blur') return version === '0.1.0' ? { found: true, kind: 'code', descriptor: blur } : { found: false, packageExists: true };
  if (name === 'blazeface') return { found: true, kind: 'model', descriptor: face };
  return { found: false, packageExists: false };
};

const manifest = (): ReturnType<typeof privacyBlurManifest> => privacyBlurManifest(0.6);

function refused(m: unknown, overrides: unknown, path: string): void {
  assert.throws(
    () => resolveManifest(parseManifest(m), lookup, parseOverrides(overrides)),
    (e: unknown) => e instanceof ManifestInvalidError && e.code === 'MANIFEST_INVALID' && e.path === path,
    `expected MANIFEST_INVALID at ${path}`,
  );
}

test('a good manifest resolves: packages, cameras, outputs and merged parameters', () => {
  const r = resolveManifest(parseManifest(manifest()), lookup, parseOverrides({ cameras: { camera: 'front-door' }, parameters: { threshold: 0.5 } }));
  assert.deepEqual(r.code, [{ node: 'blur', kind: 'code', package: 'privacy-blur', version: '0.1.0' }]);
  assert.deepEqual(r.models, [{ node: 'face', kind: 'model', package: 'blazeface', version: '1.0.0' }]);
  assert.deepEqual(r.cameras, [{ node: 'camera', camera: 'front-door' }]);
  assert.deepEqual(r.outputs, ['out']);
  assert.deepEqual(r.parameters, { blur: { threshold: 0.5, tile: false } });
});

test('each fault is refused with its path', () => {
  const cam = { cameras: { camera: 'front-door' } };
  const m1 = manifest();
  m1.nodes[1] = { name: 'blur', type: 'code', package: 'no-such', version: '0.1.0' };
  refused(m1, cam, 'nodes[1].package');
  const m2 = manifest();
  m2.nodes[1] = { name: 'blur', type: 'code', package: 'privacy-blur', version: '9.9.9' };
  refused(m2, cam, 'nodes[1].version');
  const m3 = manifest();
  m3.nodes[1] = { name: 'blur', type: 'code', package: 'blazeface', version: '1.0.0' };
  refused(m3, cam, 'nodes[1].package');
  const m4 = manifest();
  m4.edges[0] = { from: 'camera', to: 'face' };
  refused(m4, cam, 'edges[0].to');
  const m5 = manifest();
  m5.edges[1] = { from: 'face', to: 'blur.nose' };
  refused(m5, cam, 'edges[1].to');
  const m6 = manifest();
  m6.nodes[4] = { name: 'threshold', type: 'parameter', parameter: { type: 'string', default: 'high', overridable: true } };
  refused(m6, cam, 'edges[2].to');
  const m7 = manifest();
  m7.nodes[4] = { name: 'threshold', type: 'parameter', parameter: { type: 'number', default: 0.6 } };
  refused(m7, { ...cam, parameters: { threshold: 0.5 } }, 'overrides.parameters.threshold');
  refused(manifest(), { ...cam, parameters: { threshold: 'x' } }, 'overrides.parameters.threshold');
  refused(manifest(), { ...cam, parameters: { threshold: 2 } }, 'overrides.parameters.threshold');
  refused(manifest(), {}, 'overrides.cameras.camera');
  refused(manifest(), { cameras: { camera: 'a', nope: 'b' } }, 'overrides.cameras.nope');
  const m8 = manifest();
  m8.edges.splice(1, 1);
  refused(m8, cam, 'nodes[1]');
  const m9 = manifest();
  m9.edges.push({ from: 'camera', to: 'blur.video_in' });
  refused(m9, cam, 'edges[4].to');
  const m10 = manifest();
  m10.edges[3] = { from: 'blur.nothing', to: 'out' };
  refused(m10, cam, 'edges[3].from');
  const m11 = manifest();
  m11.nodes.push({ name: 'blur', type: 'output' });
  refused(m11, cam, 'nodes[5].name');
  const m12 = manifest();
  m12.nodes[3] = { name: 'out', type: 'mystery' };
  refused(m12, cam, 'nodes[3].type');
});

test('the JSON Schema describes the manifest', () => {
  const schema = appManifestJsonSchema();
  assert.equal(schema['type'], 'object');
  assert.ok(JSON.stringify(schema).includes('"parameter"'));
});
