import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  CheckpointError,
  generateNoteKey,
  parseAndVerifyCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  type NoteSigner,
} from '../checkpoint/index.js';
import { MemoryHashStore, compactRange, consistencyProof, treeHash } from '../merkle/index.js';
import { AuditVerifyError, type AuditVerifyErrorCode } from './errors.js';
import { verifyAuditLog, verifyConsistencyBetween } from './verify-log.js';

const ORIGIN = 'audit.sightline.example/p1';
const keys = generateNoteKey(ORIGIN);
const signer = parseSignerKey(keys.signerKey);
const SIZES = [10, 37, 64, 100];

const event = (i: number): Uint8Array =>
  Buffer.from(JSON.stringify({ seq: i, action: 'device.update', principal: `user-${i % 7}`, allowed: i % 5 !== 0 }));
const EVENTS = Array.from({ length: 100 }, (_, i) => event(i));

/** What the server does: append each event to the stored tree, sign checkpoints at some sizes. */
async function buildLog(
  events: readonly Uint8Array[],
  sizes: readonly number[],
  by: NoteSigner = signer,
  origin = ORIGIN,
): Promise<{ store: MemoryHashStore; checkpoints: string[] }> {
  const store = new MemoryHashStore();
  await store.append(...events);
  const checkpoints = await Promise.all(
    sizes.map(async (size) => signCheckpoint({ origin, size, rootHash: await treeHash(store, size) }, by)),
  );
  return { store, checkpoints };
}

async function* stream(events: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const e of events) {
    await Promise.resolve(); // as a file reader would
    yield e;
  }
}

async function assertFails(
  p: Promise<unknown>,
  code: AuditVerifyErrorCode,
  details: Record<string, unknown> = {},
): Promise<AuditVerifyError> {
  let caught: unknown;
  await p.then(
    () => assert.fail(`expected ${code}, but the log verified`),
    (e: unknown) => (caught = e),
  );
  assert.ok(caught instanceof AuditVerifyError, `expected AuditVerifyError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const [k, v] of Object.entries(details)) assert.equal(caught.details?.[k], v, `${k} in ${caught.message}`);
  return caught;
}

test('an untouched export verifies, from an async stream or an array', async () => {
  const { store, checkpoints } = await buildLog(EVENTS, SIZES);
  for (const events of [stream(EVENTS), EVENTS]) {
    const result = await verifyAuditLog({ events, checkpoints, verifier: keys.verifierKey });
    assert.equal(result.events, 100);
    assert.equal(result.checkpoints, 4);
    assert.equal(result.signedSize, 100);
    assert.equal(Buffer.from(result.root).toString('hex'), Buffer.from(await treeHash(store, 100)).toString('hex'));
  }
  // Checkpoints at size 0 and repeated sizes are fine.
  const more = await buildLog(EVENTS, [0, 10, 10, 100]);
  await verifyAuditLog({ events: EVENTS, checkpoints: more.checkpoints, verifier: parseVerifierKey(keys.verifierKey) });
  // An empty log with no checkpoint proves nothing false.
  assert.equal((await verifyAuditLog({ events: [], checkpoints: [], verifier: keys.verifierKey })).events, 0);
});

test('a changed byte in an event is found, and the range that holds it is named', async () => {
  const { checkpoints } = await buildLog(EVENTS, SIZES);
  const events = EVENTS.map((e, i) => (i === 40 ? Buffer.from(e).fill(0x41, 3, 4) : e));
  const err = await assertFails(
    verifyAuditLog({ events, checkpoints, verifier: keys.verifierKey }),
    'AUDIT_EVENT_MISMATCH',
    {
      checkpoint: 2,
      firstEvent: 37,
      lastEvent: 63,
    },
  );
  assert.match(err.message, /Events 37 to 63 .*checkpoint #2/);
});

test('a dropped event is found, in the middle or at the end', async () => {
  const { checkpoints } = await buildLog(EVENTS, SIZES);
  const middle = EVENTS.filter((_, i) => i !== 20);
  await assertFails(
    verifyAuditLog({ events: middle, checkpoints, verifier: keys.verifierKey }),
    'AUDIT_EVENT_MISMATCH',
    {
      checkpoint: 1,
      firstEvent: 10,
    },
  );
  await assertFails(
    verifyAuditLog({ events: EVENTS.slice(0, 99), checkpoints, verifier: keys.verifierKey }),
    'AUDIT_EVENT_MISMATCH',
    { checkpoint: 3, firstEvent: 99 },
  );
});

test('swapped and inserted events are found', async () => {
  const { checkpoints } = await buildLog(EVENTS, SIZES);
  const swapped = [...EVENTS];
  [swapped[50], swapped[51]] = [swapped[51] as Uint8Array, swapped[50] as Uint8Array];
  await assertFails(
    verifyAuditLog({ events: swapped, checkpoints, verifier: keys.verifierKey }),
    'AUDIT_EVENT_MISMATCH',
    {
      checkpoint: 2,
      firstEvent: 37,
    },
  );
  const inserted = [...EVENTS.slice(0, 5), event(999), ...EVENTS.slice(5)];
  await assertFails(
    verifyAuditLog({ events: inserted, checkpoints, verifier: keys.verifierKey }),
    'AUDIT_EVENT_MISMATCH',
    {
      checkpoint: 0,
      firstEvent: 0,
    },
  );
});

test('a replaced checkpoint is found: altered text, or a validly signed one of another history', async () => {
  const { checkpoints } = await buildLog(EVENTS, SIZES);
  const altered = [...checkpoints];
  altered[1] = (altered[1] as string).replace('\n37\n', '\n38\n');
  const err = await assertFails(
    verifyAuditLog({ events: EVENTS, checkpoints: altered, verifier: keys.verifierKey }),
    'AUDIT_CHECKPOINT_INVALID',
    { checkpoint: 1 },
  );
  assert.ok(err.cause instanceof CheckpointError && err.cause.code === 'CHECKPOINT_SIGNATURE_INVALID');

  // The log's own key signed a root over other events at size 37, and the later checkpoints
  // match the export: checkpoint #1 is the one that lies.
  const fork = await buildLog(
    EVENTS.map((e, i) => (i === 30 ? event(1000) : e)),
    [37],
  );
  const replaced = [...checkpoints];
  replaced[1] = fork.checkpoints[0] as string;
  await assertFails(
    verifyAuditLog({ events: EVENTS, checkpoints: replaced, verifier: keys.verifierKey }),
    'AUDIT_CHECKPOINT_MISMATCH',
    { checkpoint: 1, consistentWith: 2 },
  );
  // Two signed checkpoints of one size with different roots.
  await assertFails(
    verifyAuditLog({
      events: EVENTS,
      checkpoints: [...checkpoints.slice(0, 2), fork.checkpoints[0] as string, ...checkpoints.slice(2)],
      verifier: keys.verifierKey,
    }),
    'AUDIT_CHECKPOINT_MISMATCH',
    { checkpoint: 2, consistentWith: 1 },
  );
});

test('a checkpoint signed by another key, or of another log, is refused', async () => {
  const { checkpoints } = await buildLog(EVENTS, SIZES);
  const other = parseSignerKey(generateNoteKey(ORIGIN).signerKey);
  const byOther = await buildLog(EVENTS, [64], other);
  const mixed = [...checkpoints.slice(0, 2), byOther.checkpoints[0] as string, checkpoints[3] as string];
  const err = await assertFails(
    verifyAuditLog({ events: EVENTS, checkpoints: mixed, verifier: keys.verifierKey }),
    'AUDIT_CHECKPOINT_INVALID',
    { checkpoint: 2 },
  );
  assert.ok(err.cause instanceof CheckpointError && err.cause.code === 'CHECKPOINT_UNKNOWN_KEY');

  const otherLog = await buildLog(EVENTS, [64], signer, 'other.example/log');
  const err2 = await assertFails(
    verifyAuditLog({
      events: EVENTS,
      checkpoints: [...checkpoints.slice(0, 2), otherLog.checkpoints[0] as string],
      verifier: keys.verifierKey,
    }),
    'AUDIT_CHECKPOINT_INVALID',
    { checkpoint: 2 },
  );
  assert.ok(err2.cause instanceof CheckpointError && err2.cause.code === 'CHECKPOINT_ORIGIN_MISMATCH');
});

test('history rewritten after a checkpoint was kept is found, offline and with a proof', async () => {
  const honest = await buildLog(EVENTS, SIZES);
  const kept = honest.checkpoints[1] as string; // an auditor kept the size-37 checkpoint
  // The operator later rewrites event 20 and signs fresh checkpoints over the new history.
  const rewritten = EVENTS.map((e, i) => (i === 20 ? event(2000) : e));
  const forged = await buildLog(rewritten, [64, 100]);
  await assertFails(
    verifyAuditLog({ events: rewritten, checkpoints: [kept, ...forged.checkpoints], verifier: keys.verifierKey }),
    'AUDIT_CHECKPOINT_MISMATCH',
    { checkpoint: 0, consistentWith: 1 },
  );

  // Online: the client holding only `kept` asks for a proof to the newest checkpoint.
  const verifier = parseVerifierKey(keys.verifierKey);
  const old = parseAndVerifyCheckpoint(kept, verifier);
  const honestNew = parseAndVerifyCheckpoint(honest.checkpoints[3] as string, verifier);
  verifyConsistencyBetween(old, honestNew, await consistencyProof(honest.store, 37, 100));
  const forgedNew = parseAndVerifyCheckpoint(forged.checkpoints[1] as string, verifier);
  const err = await assertFails(
    Promise.resolve().then(async () =>
      verifyConsistencyBetween(old, forgedNew, await consistencyProof(forged.store, 37, 100)),
    ),
    'AUDIT_CHECKPOINT_MISMATCH',
    { proofError: 'AUDIT_PROOF_INVALID' },
  );
  assert.match(err.message, /size 100 .* size 37/);
  await assertFails(
    Promise.resolve().then(() => verifyConsistencyBetween(honestNew, old, [])),
    'AUDIT_ORDER_INVALID',
  );
});

test('checkpoints out of order are refused', async () => {
  const { checkpoints } = await buildLog(EVENTS, SIZES);
  await assertFails(
    verifyAuditLog({
      events: EVENTS,
      checkpoints: [checkpoints[1] as string, checkpoints[0] as string],
      verifier: keys.verifierKey,
    }),
    'AUDIT_ORDER_INVALID',
    { checkpoint: 1 },
  );
});

test('events past the last checkpoint fail unless an unsigned tail is allowed', async () => {
  const { checkpoints } = await buildLog(EVENTS, SIZES);
  const longer = [...EVENTS, event(100), event(101)];
  await assertFails(
    verifyAuditLog({ events: longer, checkpoints, verifier: keys.verifierKey }),
    'AUDIT_UNSIGNED_EVENTS',
    {
      firstEvent: 100,
    },
  );
  await assertFails(
    verifyAuditLog({ events: EVENTS, checkpoints: [], verifier: keys.verifierKey }),
    'AUDIT_UNSIGNED_EVENTS',
    {
      firstEvent: 0,
    },
  );
  const result = await verifyAuditLog({
    events: longer,
    checkpoints,
    verifier: keys.verifierKey,
    allowUnsignedTail: true,
  });
  assert.equal(result.events, 102);
  assert.equal(result.signedSize, 100);
});

/** What retention leaves of a log cut at `cut`: the compact range of the dropped events, read from the pruned store. */
async function pruned(store: MemoryHashStore, cut: number): Promise<{ size: number; compactRange: Uint8Array[] }> {
  store.prune(cut);
  return { size: cut, compactRange: (await store.getNodes(compactRange(cut))) as Uint8Array[] };
}

test('a log cut by retention verifies from the compact range and the signed checkpoint at the cut', async () => {
  const { store, checkpoints } = await buildLog(EVENTS, SIZES);
  const base = await pruned(store, 37);
  assert.equal(base.compactRange.length, 3); // 32 + 4 + 1
  const kept = EVENTS.slice(37);
  const result = await verifyAuditLog({ events: stream(kept), checkpoints: checkpoints.slice(1), verifier: keys.verifierKey, base });
  assert.equal(result.events, 63);
  assert.equal(result.baseSize, 37);
  assert.equal(result.treeSize, 100);
  assert.equal(result.signedSize, 100);
  assert.equal(Buffer.from(result.root).toString('hex'), Buffer.from(await treeHash(store, 100)).toString('hex'));
  // A base of size 0 is the whole log.
  assert.equal((await verifyAuditLog({ events: EVENTS, checkpoints, verifier: keys.verifierKey, base: { size: 0, compactRange: [] } })).events, 100);
});

test('after a cut: a forged compact range, a replaced cut checkpoint and a dropped kept event each fail, naming the fault', async () => {
  const { store, checkpoints } = await buildLog(EVENTS, SIZES);
  const base = await pruned(store, 37);
  const kept = EVENTS.slice(37);
  const after = checkpoints.slice(1);
  const run = (b: typeof base, cps: string[], events: readonly Uint8Array[] = kept): Promise<unknown> =>
    verifyAuditLog({ events, checkpoints: cps, verifier: keys.verifierKey, base: b });
  const forged = { size: 37, compactRange: base.compactRange.map((h, i) => (i === 1 ? Buffer.alloc(32, 3) : h)) };
  const err = await assertFails(run(forged, after), 'AUDIT_BASE_MISMATCH', { baseSize: 37, checkpoint: 0 });
  assert.match(err.message, /compact range of the dropped events 0 to 36 does not reproduce the root of checkpoint #0 \(size 37\)/);
  await assertFails(run({ size: 37, compactRange: base.compactRange.slice(1) }, after), 'AUDIT_BASE_INVALID', { baseSize: 37 });
  // The cut checkpoint removed (the chain starts later), or replaced by one of another key.
  const gone = await assertFails(run(base, after.slice(1)), 'AUDIT_BASE_INVALID', { checkpoint: 0 });
  assert.match(gone.message, /first checkpoint must be the signed one at the cut \(size 37\), but it is checkpoint #0 \(size 64\)/);
  const other = await buildLog(EVENTS, [37], parseSignerKey(generateNoteKey(ORIGIN).signerKey));
  await assertFails(run(base, [other.checkpoints[0] as string, ...after.slice(1)]), 'AUDIT_CHECKPOINT_INVALID', { checkpoint: 0 });
  // The log's key signed another history at 37, and the compact range was forged to match it: the
  // kept events then fail to reach the next checkpoint.
  const fork = await buildLog(EVENTS.map((e, i) => (i === 3 ? event(3000) : e)), [37]);
  const forkBase = await pruned(fork.store, 37);
  const replaced = await assertFails(run(forkBase, [fork.checkpoints[0] as string, ...after.slice(1)]), 'AUDIT_EVENT_MISMATCH', {
    firstEvent: 37,
    checkpoint: 1,
  });
  assert.match(replaced.message, /checkpoint at the cut was replaced together with its compact range/);
  // A kept event dropped.
  await assertFails(run(base, after, kept.filter((_, i) => i !== 5)), 'AUDIT_EVENT_MISMATCH', { firstEvent: 37, lastEvent: 63 });
});
