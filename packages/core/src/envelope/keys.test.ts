import { strict as assert } from 'node:assert';
import { createCipheriv, createSecretKey, KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { generateDataKey, parseWrappedKey, unwrapKey, wrapKey, type WrapContext } from './keys.js';
import { bytes, throwsCode } from './testing.js';

const master = bytes(32, 0x40);
const ctx: WrapContext = { keyId: 'project/7/artifacts', keyVersion: 3, purpose: 'artifact' };
// Frozen vector: data key 00..1f wrapped under master 40..5f in `ctx` (pins the version 1 encoding).
const VECTOR = Buffer.from(
  '011370726f6a6563742f372f61727469666163747300000003f7276d7e0b788a8bd9033abee947d34acd8194faf335d6ed94db50' +
    '20f7486e70768feba1f63658dd7168e0dc51b72c64513549e1c87a819ec94fc639',
  'hex',
);

test('unwraps the frozen version 1 vector', () => {
  const key = unwrapKey(master, VECTOR, ctx);
  assert.deepEqual(key.export(), bytes(32));
  assert.deepEqual(parseWrappedKey(VECTOR), { keyId: 'project/7/artifacts', keyVersion: 3 });
});

test('the encoding and AAD are as documented (independent construction)', () => {
  const wrapped = wrapKey(master, bytes(32), ctx);
  const id = Buffer.from(ctx.keyId);
  const prefix = Buffer.concat([Buffer.of(1, id.length), id, Buffer.of(0, 0, 0, 3)]);
  const nonce = wrapped.subarray(prefix.length, prefix.length + 12);
  const c = createCipheriv('aes-256-gcm', master, nonce);
  c.setAAD(Buffer.concat([prefix, Buffer.of(8), Buffer.from('artifact')]));
  const body = Buffer.concat([c.update(bytes(32)), c.final()]);
  assert.deepEqual(wrapped, Buffer.concat([prefix, nonce, body, c.getAuthTag()]));
});

test('round-trips KeyObject and raw keys, with a fresh nonce each time', () => {
  const dataKey = generateDataKey();
  assert.ok(dataKey instanceof KeyObject);
  assert.equal(dataKey.symmetricKeySize, 32);
  assert.notDeepEqual(dataKey.export(), generateDataKey().export());
  const masterObject = createSecretKey(master);
  const a = wrapKey(masterObject, dataKey, ctx);
  const b = wrapKey(master, dataKey.export(), ctx);
  assert.notDeepEqual(a, b);
  assert.equal(a.length, 2 + 19 + 4 + 12 + 32 + 16);
  assert.deepEqual(unwrapKey(master, a, ctx).export(), dataKey.export());
  assert.deepEqual(unwrapKey(masterObject, b, ctx).export(), dataKey.export());
});

test('a wrapped key does not move to another purpose, master key, key id or version', () => {
  const wrapped = wrapKey(master, generateDataKey(), ctx);
  throwsCode(() => unwrapKey(master, wrapped, { ...ctx, purpose: 'secret' }), 'ENVELOPE_AUTH_FAILED');
  throwsCode(() => unwrapKey(bytes(32, 1), wrapped, ctx), 'ENVELOPE_AUTH_FAILED');
  throwsCode(() => unwrapKey(master, wrapped, { ...ctx, keyId: 'project/8/artifacts' }), 'ENVELOPE_CONTEXT_MISMATCH');
  throwsCode(() => unwrapKey(master, wrapped, { ...ctx, keyVersion: 4 }), 'ENVELOPE_CONTEXT_MISMATCH');
  // Relabelled in storage to claim version 4: the AAD catches it even when the caller asks for 4.
  const relabelled = Buffer.from(wrapped);
  relabelled.writeUInt32BE(4, 2 + 19);
  throwsCode(() => unwrapKey(master, relabelled, { ...ctx, keyVersion: 4 }), 'ENVELOPE_AUTH_FAILED');
});

test('every flipped bit is refused', () => {
  const wrapped = wrapKey(master, generateDataKey(), ctx);
  for (let i = 0; i < wrapped.length; i++) {
    const bad = Buffer.from(wrapped);
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    assert.throws(
      () => unwrapKey(master, bad, ctx),
      (err: unknown) => {
        const code = (err as { code?: string }).code;
        return ['ENVELOPE_AUTH_FAILED', 'ENVELOPE_CONTEXT_MISMATCH', 'ENVELOPE_MALFORMED', 'ENVELOPE_UNSUPPORTED_VERSION'].includes(
          code ?? '',
        );
      },
      `byte ${i}`,
    );
  }
});

test('malformed encodings fail closed with their codes', () => {
  throwsCode(() => parseWrappedKey(new Uint8Array(0)), 'ENVELOPE_MALFORMED');
  throwsCode(() => parseWrappedKey(VECTOR.subarray(0, VECTOR.length - 1)), 'ENVELOPE_MALFORMED');
  throwsCode(() => parseWrappedKey(Buffer.concat([VECTOR, Buffer.of(0)])), 'ENVELOPE_MALFORMED');
  const v2 = Buffer.from(VECTOR);
  v2[0] = 2;
  throwsCode(() => unwrapKey(master, v2, ctx), 'ENVELOPE_UNSUPPORTED_VERSION');
  const noId = Buffer.from(VECTOR);
  noId[1] = 0;
  throwsCode(() => parseWrappedKey(noId), 'ENVELOPE_MALFORMED');
});

test('bad keys and contexts are refused before any work', () => {
  const dataKey = generateDataKey();
  throwsCode(() => wrapKey(bytes(16), dataKey, ctx), 'ENVELOPE_INVALID_KEY');
  throwsCode(() => wrapKey(master, bytes(31), ctx), 'ENVELOPE_INVALID_KEY');
  throwsCode(() => wrapKey(createSecretKey(bytes(16)), dataKey, ctx), 'ENVELOPE_INVALID_KEY');
  throwsCode(() => unwrapKey(bytes(33), VECTOR, ctx), 'ENVELOPE_INVALID_KEY');
  throwsCode(() => wrapKey(master, dataKey, { ...ctx, keyId: '' }), 'ENVELOPE_INVALID_ARGUMENT');
  throwsCode(() => wrapKey(master, dataKey, { ...ctx, keyId: 'x'.repeat(256) }), 'ENVELOPE_INVALID_ARGUMENT');
  throwsCode(() => wrapKey(master, dataKey, { ...ctx, purpose: '' }), 'ENVELOPE_INVALID_ARGUMENT');
  for (const keyVersion of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
    throwsCode(() => wrapKey(master, dataKey, { ...ctx, keyVersion }), 'ENVELOPE_INVALID_ARGUMENT');
  }
});
