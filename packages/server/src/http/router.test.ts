import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSightlineError } from '@sightline/core';
import { defineRoute, Router, type Route } from './router.js';

const route = (method: 'GET' | 'PUT', path: string): Route =>
  defineRoute({ method, path, summary: path, tag: 't', auth: 'public', handle: () => Promise.resolve(path) });

const routes = [
  route('GET', '/api/v1/users/:name'),
  route('GET', '/api/v1/projects/:project/artifacts/:name+/content'),
  route('GET', '/api/v1/projects/:project/artifacts/:name+'),
  route('PUT', '/api/v1/projects/:project/artifacts/:name+'),
];
const router = new Router(routes);

function match(method: string, path: string): { path: string; params: Record<string, string> } | string | undefined {
  const m = router.match(method, path);
  return m === undefined || m === 'method-not-allowed' ? m : { path: m.route.path, params: m.params };
}

test(':name takes exactly one segment, URL-decoded', () => {
  assert.deepEqual(match('GET', '/api/v1/users/al%20ice'), { path: '/api/v1/users/:name', params: { name: 'al ice' } });
  assert.equal(match('GET', '/api/v1/users/a/b'), undefined);
});

test(':name+ takes the rest of the path, each segment decoded on its own', () => {
  assert.deepEqual(match('GET', '/api/v1/projects/p1/artifacts/models/blazeface/1.0.0.onnx'), {
    path: '/api/v1/projects/:project/artifacts/:name+',
    params: { project: 'p1', name: 'models/blazeface/1.0.0.onnx' },
  });
  assert.deepEqual(match('PUT', '/api/v1/projects/p1/artifacts/a%2Db/c'), {
    path: '/api/v1/projects/:project/artifacts/:name+',
    params: { project: 'p1', name: 'a-b/c' },
  });
  // Empty segments reach the handler, which names the fault (not a 404).
  assert.deepEqual(match('GET', '/api/v1/projects/p1/artifacts/a//b'), {
    path: '/api/v1/projects/:project/artifacts/:name+',
    params: { project: 'p1', name: 'a//b' },
  });
  assert.equal(match('GET', '/api/v1/projects/p1/artifacts'), undefined, 'one segment at least');
  assert.equal(match('GET', '/api/v1/projects/p1/artifacts/'), undefined);
});

test('a more specific route listed first wins; other methods fall through to a route that has them', () => {
  assert.deepEqual(match('GET', '/api/v1/projects/p1/artifacts/models/x.onnx/content'), {
    path: '/api/v1/projects/:project/artifacts/:name+/content',
    params: { project: 'p1', name: 'models/x.onnx' },
  });
  assert.deepEqual(match('PUT', '/api/v1/projects/p1/artifacts/models/x.onnx/content'), {
    path: '/api/v1/projects/:project/artifacts/:name+',
    params: { project: 'p1', name: 'models/x.onnx/content' },
  });
  assert.equal(match('DELETE', '/api/v1/projects/p1/artifacts/x'), 'method-not-allowed');
});

test('a malformed %-escape is VALIDATION_FAILED, not a crash', () => {
  assert.throws(
    () => router.match('GET', '/api/v1/projects/p1/artifacts/a/%E0%A4%A'),
    (e: unknown) => isSightlineError(e) && e.code === 'VALIDATION_FAILED',
  );
});
