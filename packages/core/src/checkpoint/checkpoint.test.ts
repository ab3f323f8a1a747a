import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { formatCheckpoint, parseAndVerifyCheckpoint, parseCheckpointBody, signCheckpoint } from './checkpoint.js';
import { CheckpointError, type CheckpointErrorCode } from './errors.js';
import { generateNoteKey, parseSignerKey, parseVerifierKey, signNote } from './note.js';

const ORIGIN = 'audit.sightline.example/project-1';
const keys = generateNoteKey(ORIGIN);
const signer = parseSignerKey(keys.signerKey);
const verifier = parseVerifierKey(keys.verifierKey);
const root = createHash('sha256').update('root').digest();
const rootB64 = root.toString('base64');

function assertCode(fn: () => unknown, code: CheckpointErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CheckpointError, `expected CheckpointError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test('a checkpoint round-trips, in the exact tlog-checkpoint layout', async () => {
  const note = await signCheckpoint({ origin: ORIGIN, size: 20852163, rootHash: root }, signer);
  const [body, sig] = note.split('\n\n');
  assert.equal(body, `${ORIGIN}\n20852163\n${rootB64}`);
  assert.match(sig ?? '', new RegExp(`^\u2014 ${ORIGIN.replace(/\./g, '\\.')} [A-Za-z0-9+/]{91}=\n$`));
  const cp = parseAndVerifyCheckpoint(note, verifier);
  assert.equal(cp.origin, ORIGIN);
  assert.equal(cp.size, 20852163);
  assert.equal(Buffer.from(cp.rootHash).toString('hex'), root.toString('hex'));
  assert.deepEqual(cp.extensions, []);
});

test('extension lines and size 0 round-trip', async () => {
  const note = await signCheckpoint(
    { origin: ORIGIN, size: 0, rootHash: root, extensions: ['ext one', 'two'] },
    signer,
  );
  const cp = parseAndVerifyCheckpoint(note, verifier);
  assert.equal(cp.size, 0);
  assert.deepEqual(cp.extensions, ['ext one', 'two']);
});

test('a checkpoint signed by another key, or altered, or of another log is refused', async () => {
  const other = generateNoteKey(ORIGIN);
  const byOther = await signCheckpoint({ origin: ORIGIN, size: 5, rootHash: root }, parseSignerKey(other.signerKey));
  assertCode(() => parseAndVerifyCheckpoint(byOther, verifier), 'CHECKPOINT_UNKNOWN_KEY');

  const good = await signCheckpoint({ origin: ORIGIN, size: 5, rootHash: root }, signer);
  assertCode(() => parseAndVerifyCheckpoint(good.replace('\n5\n', '\n6\n'), verifier), 'CHECKPOINT_SIGNATURE_INVALID');

  const otherLog = await signCheckpoint({ origin: 'other.example/log', size: 5, rootHash: root }, signer);
  assertCode(() => parseAndVerifyCheckpoint(otherLog, verifier), 'CHECKPOINT_ORIGIN_MISMATCH');
  // The caller may name the origin when it differs from the key name.
  assert.equal(parseAndVerifyCheckpoint(otherLog, verifier, { origin: 'other.example/log' }).size, 5);
  assertCode(
    () => parseAndVerifyCheckpoint(good, verifier, { origin: 'other.example/log' }),
    'CHECKPOINT_ORIGIN_MISMATCH',
  );
  assertCode(() => parseAndVerifyCheckpoint(good, []), 'CHECKPOINT_UNKNOWN_KEY');
});

test('signed but malformed bodies are refused', async () => {
  const bodies = [
    `${ORIGIN}\n5\n`, // no root line
    `${ORIGIN}\n05\n${rootB64}\n`, // leading zero
    `${ORIGIN}\n-5\n${rootB64}\n`,
    `${ORIGIN}\n5.0\n${rootB64}\n`,
    `${ORIGIN}\n 5\n${rootB64}\n`,
    `${ORIGIN}\n9007199254740992\n${rootB64}\n`, // 2^53: not exact in a number
    `${ORIGIN}\n99999999999999999999\n${rootB64}\n`,
    `${ORIGIN}\n5\n${rootB64.slice(0, -1)}\n`, // padding dropped
    `${ORIGIN}\n5\n${root.subarray(1).toString('base64')}\n`, // 31 bytes
    `${ORIGIN}\n5\n${root.toString('base64url')}\n`,
    `${ORIGIN}\n5\n${rootB64}\n\next\n`, // empty extension line kept in the text
  ];
  for (const body of bodies) {
    const note = await signNote(body, signer);
    assertCode(() => parseAndVerifyCheckpoint(note, verifier), 'CHECKPOINT_MALFORMED');
  }
  assert.equal(parseCheckpointBody(`${ORIGIN}\n9007199254740991\n${rootB64}\n`).size, Number.MAX_SAFE_INTEGER);
});

test('signCheckpoint refuses what it could not write as a valid checkpoint', async () => {
  const bad = [
    { origin: '', size: 1, rootHash: root },
    { origin: 'a\nb', size: 1, rootHash: root },
    { origin: ORIGIN, size: -1, rootHash: root },
    { origin: ORIGIN, size: 1.5, rootHash: root },
    { origin: ORIGIN, size: 2 ** 53, rootHash: root },
    { origin: ORIGIN, size: 1, rootHash: root.subarray(1) },
    { origin: ORIGIN, size: 1, rootHash: root, extensions: [''] },
  ];
  for (const input of bad) {
    assertCode(() => formatCheckpoint(input), 'CHECKPOINT_MALFORMED');
    await assert.rejects(signCheckpoint(input, signer), (e: unknown) => e instanceof CheckpointError);
  }
});
