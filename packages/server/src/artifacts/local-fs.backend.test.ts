import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { isSightlineError } from '@sightline/core';
import { LocalFsBackend, newObjectId } from './local-fs.backend.js';

function fresh(): { root: string; backend: LocalFsBackend; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'sightline-lfs-'));
  return { root, backend: new LocalFsBackend(root), done: () => rmSync(root, { recursive: true, force: true }) };
}
const write = (stream: NodeJS.WritableStream, data: string): Promise<void> =>
  new Promise((resolve, reject) => stream.end(data, () => resolve()).on('error', reject));
async function ids(b: LocalFsBackend): Promise<string[]> {
  const out: string[] = [];
  for await (const id of b.list()) out.push(id);
  return out.sort();
}

test('an upload is invisible until commit, then appears whole under objects/<id[0..2]>/<id>, owner-only', async () => {
  const { root, backend, done } = fresh();
  try {
    const id = newObjectId();
    const up = await backend.begin(id);
    await write(up.stream, 'ciphertext bytes');
    assert.deepEqual(await ids(backend), []);
    await assert.rejects(backend.open(id), (e: unknown) => isSightlineError(e) && e.code === 'ARTIFACT_DATA_MISSING');
    assert.deepEqual(readdirSync(join(root, 'tmp')), [`${id}.part`]);
    await up.commit();
    assert.deepEqual(await ids(backend), [id]);
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
    const file = join(root, 'objects', id.slice(0, 2), id);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(await text(await backend.open(id)), 'ciphertext bytes');
    await backend.delete(id);
    await backend.delete(id); // already gone: no error
    assert.deepEqual(await ids(backend), []);
  } finally {
    done();
  }
});

test('abort removes the part, also after a failed commit, and may run twice', async () => {
  const { root, backend, done } = fresh();
  try {
    const up = await backend.begin(newObjectId());
    up.stream.write('half');
    await up.abort();
    await up.abort();
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
    assert.deepEqual(await ids(backend), []);
  } finally {
    done();
  }
});

test('sweepIncomplete removes stale parts but never one in flight or younger than the age given', async () => {
  const { root, backend, done } = fresh();
  try {
    const live = await backend.begin(newObjectId());
    live.stream.write('still coming');
    const crashed = join(root, 'tmp', `${newObjectId()}.part`);
    const recent = join(root, 'tmp', `${newObjectId()}.part`);
    writeFileSync(crashed, 'left by a kill -9');
    writeFileSync(recent, 'another process, just now');
    const old = (Date.now() - 2 * 3_600_000) / 1000;
    utimesSync(crashed, old, old);
    assert.equal(await backend.sweepIncomplete(3_600_000), 1);
    assert.equal(readdirSync(join(root, 'tmp')).length, 2);
    assert.equal(await backend.sweepIncomplete(0), 1, 'at start-up everything not in flight goes');
    assert.equal(readdirSync(join(root, 'tmp')).length, 1, 'the live upload stays');
    await write(live.stream, '');
    await live.commit();
    assert.equal((await ids(backend)).length, 1);
  } finally {
    done();
  }
});

test('object ids are checked before they become paths', async () => {
  const { backend, done } = fresh();
  try {
    for (const bad of ['../../etc/passwd', 'ABCDEF0123456789ABCDEF0123456789', 'a'.repeat(31), '']) {
      await assert.rejects(backend.begin(bad));
      await assert.rejects(backend.open(bad));
      await assert.rejects(backend.delete(bad));
    }
  } finally {
    done();
  }
});
