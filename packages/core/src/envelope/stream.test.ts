import { strict as assert } from 'node:assert';
import { createCipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { generateDataKey } from './keys.js';
import {
  DEFAULT_SEGMENT_SIZE,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  STREAM_HEADER_BYTES,
  ciphertextLength,
  createDecryptStream,
  createEncryptStream,
  type DecryptStreamOptions,
  type EncryptStreamOptions,
} from './stream.js';
import { assertEnvelopeError, bytes, prng, throwsCode } from './testing.js';
import type { EnvelopeErrorCode } from './errors.js';

const S = MIN_SEGMENT_SIZE;
const H = STREAM_HEADER_BYTES;
const key = generateDataKey();
const objectId = bytes(16, 0xa0);
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
/** Offset of segment i (not the last) in a stream with segment size `size`. */
const seg = (i: number, size = S): number => H + i * (1 + size + 16);

/** Splits `input` at random points (pieces of 0..max bytes) with a seeded PRNG. */
function chunk(input: Buffer, seed: number, max: number): Buffer[] {
  if (seed === 0) return [input];
  const rand = prng(seed);
  const out: Buffer[] = [];
  for (let at = 0; at < input.length;) {
    const n = Math.floor(rand() * (max + 1));
    out.push(input.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function run(stream: Transform, chunks: Buffer[]): Promise<{ out: Buffer; err: unknown }> {
  const out: Buffer[] = [];
  let err: unknown;
  try {
    await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
      for await (const piece of source) out.push(piece);
    });
  } catch (e) {
    err = e;
  }
  return { out: Buffer.concat(out), err };
}

async function encrypt(plaintext: Buffer, options: Partial<EncryptStreamOptions> = {}, seed = 0) {
  const stream = createEncryptStream({ dataKey: key, objectId, segmentSize: S, ...options });
  const { out, err } = await run(stream, chunk(plaintext, seed, 3 * (options.segmentSize ?? S)));
  assert.equal(err, undefined);
  return { ct: out, digest: stream.digest() };
}

async function decrypt(ct: Buffer, options: Partial<DecryptStreamOptions> = {}, seed = 0) {
  const stream = createDecryptStream({ dataKey: key, objectId, ...options });
  const result = await run(stream, chunk(ct, seed, 3 * S));
  return { ...result, stream };
}

// Frozen vector: "sightline" under key 00..1f, object a0..af, 4 KiB segments (pins the SLE1 version 1 format).
const VECTOR = Buffer.from(
  '534c45310100001000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf7df589b76c51231d6399cd190a268714fbbcdabe0100000009ceb800' +
    'e37f8e8c61b391f9faf063c4ebd57136ce336895de71',
  'hex',
);

test('decrypts the frozen SLE1 vector', async () => {
  const { out, err } = await decrypt(VECTOR, { dataKey: bytes(32) });
  assert.equal(err, undefined);
  assert.equal(out.toString(), 'sightline');
});

test('the bytes follow the documented format (independent construction)', async () => {
  const plaintext = randomBytes(2 * S + 100);
  const { ct } = await encrypt(plaintext);
  const header = ct.subarray(0, H);
  assert.equal(header.subarray(0, 5).toString('latin1'), 'SLE1\x01');
  assert.equal(header.readUInt32BE(5), S);
  assert.deepEqual(header.subarray(9, 25), objectId);
  const info = Buffer.concat([Buffer.from('sightline/envelope/stream/v1'), objectId]);
  const segmentKey = Buffer.from(hkdfSync('sha256', key, header.subarray(25, 41), info, 32));
  const expected = [header];
  for (let i = 0; i < 3; i++) {
    const last = i === 2;
    const index = Buffer.alloc(8);
    index.writeUInt32BE(i, 4);
    const c = createCipheriv('aes-256-gcm', segmentKey, Buffer.concat([header.subarray(41, 45), index]));
    c.setAAD(Buffer.concat([header, index, Buffer.of(last ? 1 : 0)]));
    const body = Buffer.concat([c.update(plaintext.subarray(i * S, (i + 1) * S)), c.final()]);
    const frame = last ? Buffer.of(1, 0, 0, 0, 100) : Buffer.of(0);
    expected.push(frame, body, c.getAuthTag());
  }
  assert.deepEqual(ct, Buffer.concat(expected));
});

test('round-trips 0, 1, S-1, S, S+1 and several segments under random chunking', async () => {
  let seed = 1;
  for (const n of [0, 1, S - 1, S, S + 1, 2 * S, 5 * S + 123]) {
    const plaintext = randomBytes(n);
    for (const encSeed of [0, seed++]) {
      const { ct, digest } = await encrypt(plaintext, {}, encSeed);
      assert.equal(ct.length, ciphertextLength(n, S), `length for ${n}`);
      assert.deepEqual(digest, sha256(plaintext));
      for (const decSeed of [0, seed++]) {
        const { out, err, stream } = await decrypt(ct, { expectedDigest: digest }, decSeed);
        assert.equal(err, undefined, `size ${n} seeds ${encSeed}/${decSeed}`);
        assert.deepEqual(out, plaintext);
        assert.deepEqual(stream.digest(), digest);
      }
    }
  }
});

test('round-trips with the default and the largest segment size, and Uint8Array input', async () => {
  for (const segmentSize of [DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE]) {
    const plaintext = randomBytes(Math.floor(segmentSize * 1.5));
    const { ct } = await encrypt(plaintext, { segmentSize }, 7);
    assert.equal(ct.length, ciphertextLength(plaintext.length, segmentSize));
    const { out, err } = await decrypt(ct, {}, 8);
    assert.equal(err, undefined);
    assert.deepEqual(out, plaintext);
  }
  const stream = createEncryptStream({ dataKey: key, objectId, segmentSize: S });
  const { out } = await run(stream, [new Uint8Array([1, 2, 3]) as Buffer]);
  assert.deepEqual((await decrypt(out)).out, Buffer.of(1, 2, 3));
});

test('two encryptions of the same bytes differ (fresh salt and nonce prefix)', async () => {
  const plaintext = bytes(100);
  assert.notDeepEqual((await encrypt(plaintext)).ct, (await encrypt(plaintext)).ct);
});

// 3.5 segments: full segments 0, 1, 2 and a last segment of S/2 bytes.
const PLAIN = randomBytes(3 * S + S / 2);
const LAST_AT = seg(3);

interface Case {
  name: string;
  code: EnvelopeErrorCode;
  /**
   * Plaintext bytes that may come out before the error: only the segments before the bad one. (A consumer may
   * see fewer: a stream that errors drops what it had buffered but not yet delivered.)
   */
  released: number;
  tamper: (ct: Buffer, other: Buffer) => Buffer;
  options?: Partial<DecryptStreamOptions>;
}

const flip = (ct: Buffer, at: number, mask = 0x01): Buffer => {
  const out = Buffer.from(ct);
  out[at] = (out[at] ?? 0) ^ mask;
  return out;
};
const cut = (ct: Buffer, from: number, to: number): Buffer => Buffer.concat([ct.subarray(0, from), ct.subarray(to)]);
const segment = (ct: Buffer, i: number): Buffer => ct.subarray(seg(i), seg(i + 1));

const cases: Case[] = [
  { name: 'bit flip in a ciphertext', code: 'ENVELOPE_AUTH_FAILED', released: S, tamper: (ct) => flip(ct, seg(1) + 200) },
  { name: 'bit flip in a tag', code: 'ENVELOPE_AUTH_FAILED', released: S, tamper: (ct) => flip(ct, seg(2) - 1) },
  { name: 'bit flip in the last segment', code: 'ENVELOPE_AUTH_FAILED', released: 3 * S, tamper: (ct) => flip(ct, LAST_AT + 9) },
  { name: 'bit flip in the salt', code: 'ENVELOPE_AUTH_FAILED', released: 0, tamper: (ct) => flip(ct, 30) },
  { name: 'bit flip in the nonce prefix', code: 'ENVELOPE_AUTH_FAILED', released: 0, tamper: (ct) => flip(ct, 42) },
  { name: 'bit flip in the object id', code: 'ENVELOPE_OBJECT_MISMATCH', released: 0, tamper: (ct) => flip(ct, 12) },
  { name: 'segment size changed', code: 'ENVELOPE_AUTH_FAILED', released: 0, tamper: (ct) => flip(ct, 7, 0x20) },
  { name: 'segment size below the minimum', code: 'ENVELOPE_MALFORMED', released: 0, tamper: (ct) => flip(ct, 7, 0x10) },
  { name: 'segment size above 16 MiB', code: 'ENVELOPE_MALFORMED', released: 0, tamper: (ct) => flip(ct, 5, 0x80) },
  { name: 'bad magic', code: 'ENVELOPE_MALFORMED', released: 0, tamper: (ct) => flip(ct, 0) },
  { name: 'unknown version', code: 'ENVELOPE_UNSUPPORTED_VERSION', released: 0, tamper: (ct) => flip(ct, 4, 0x03) },
  { name: 'unknown frame marker', code: 'ENVELOPE_MALFORMED', released: S, tamper: (ct) => flip(ct, seg(1), 0x02) },
  { name: 'a middle segment marked last', code: 'ENVELOPE_MALFORMED', released: S, tamper: (ct) => flip(ct, seg(1)) },
  { name: 'last length not below segment size', code: 'ENVELOPE_MALFORMED', released: 3 * S, tamper: (ct) => flip(ct, LAST_AT + 3, 0x10) },
  { name: 'last length shortened', code: 'ENVELOPE_AUTH_FAILED', released: 3 * S, tamper: (ct) => flip(ct, LAST_AT + 3, 0x08) },
  { name: 'last length lengthened', code: 'ENVELOPE_TRUNCATED', released: 3 * S, tamper: (ct) => flip(ct, LAST_AT + 4) },
  {
    name: 'segments swapped',
    code: 'ENVELOPE_AUTH_FAILED',
    released: S,
    tamper: (ct) => Buffer.concat([ct.subarray(0, seg(1)), segment(ct, 2), segment(ct, 1), ct.subarray(seg(3))]),
  },
  { name: 'a middle segment dropped', code: 'ENVELOPE_AUTH_FAILED', released: S, tamper: (ct) => cut(ct, seg(1), seg(2)) },
  {
    name: 'a segment replayed',
    code: 'ENVELOPE_AUTH_FAILED',
    released: S,
    tamper: (ct) => Buffer.concat([ct.subarray(0, seg(1)), segment(ct, 0), ct.subarray(seg(1))]),
  },
  {
    name: 'a segment from another encryption',
    code: 'ENVELOPE_AUTH_FAILED',
    released: S,
    tamper: (ct, other) => Buffer.concat([ct.subarray(0, seg(1)), segment(other, 1), ct.subarray(seg(2))]),
  },
  {
    name: 'the header from another encryption',
    code: 'ENVELOPE_AUTH_FAILED',
    released: 0,
    tamper: (ct, other) => Buffer.concat([other.subarray(0, H), ct.subarray(H)]),
  },
  { name: 'final segment dropped', code: 'ENVELOPE_TRUNCATED', released: 3 * S, tamper: (ct) => ct.subarray(0, LAST_AT) },
  { name: 'cut inside a segment', code: 'ENVELOPE_TRUNCATED', released: 2 * S, tamper: (ct) => ct.subarray(0, seg(2) + 100) },
  { name: 'cut inside the last tag', code: 'ENVELOPE_TRUNCATED', released: 3 * S, tamper: (ct) => ct.subarray(0, ct.length - 1) },
  { name: 'cut inside the header', code: 'ENVELOPE_TRUNCATED', released: 0, tamper: (ct) => ct.subarray(0, H - 1) },
  { name: 'empty input', code: 'ENVELOPE_TRUNCATED', released: 0, tamper: () => Buffer.alloc(0) },
  {
    name: 'one byte after the final segment',
    code: 'ENVELOPE_TRAILING_DATA',
    released: 3 * S,
    tamper: (ct) => Buffer.concat([ct, Buffer.of(0)]),
  },
  {
    name: 'extended with another final segment',
    code: 'ENVELOPE_TRAILING_DATA',
    released: 3 * S,
    tamper: (ct, other) => Buffer.concat([ct, other.subarray(LAST_AT)]),
  },
  { name: 'wrong object id expected', code: 'ENVELOPE_OBJECT_MISMATCH', released: 0, tamper: (ct) => ct, options: { objectId: bytes(16) } },
  { name: 'wrong key', code: 'ENVELOPE_AUTH_FAILED', released: 0, tamper: (ct) => ct, options: { dataKey: generateDataKey() } },
  {
    name: 'segment size over the reader maximum',
    code: 'ENVELOPE_LIMIT_EXCEEDED',
    released: 0,
    tamper: (ct) => flip(ct, 7, 0x20),
    options: { maxSegmentSize: S },
  },
  {
    name: 'plaintext digest differs',
    code: 'ENVELOPE_DIGEST_MISMATCH',
    released: 3 * S,
    tamper: (ct) => ct,
    options: { expectedDigest: sha256(Buffer.alloc(1)) },
  },
];

test('each tamper fails with its code and releases nothing from the bad segment', async () => {
  const { ct } = await encrypt(PLAIN);
  const { ct: other } = await encrypt(PLAIN);
  for (const c of cases) {
    const bad = c.tamper(ct, other);
    for (const seed of [0, 1, 2]) {
      const { out, err } = await decrypt(bad, c.options ?? {}, seed);
      assertEnvelopeError(err, c.code, `${c.name} (seed ${seed})`);
      assert.ok(out.length <= c.released, `${c.name} (seed ${seed}) released ${out.length} bytes`);
      assert.deepEqual(out, PLAIN.subarray(0, out.length), c.name);
    }
  }
  // Fed byte by byte to a flowing stream, every verified segment is delivered before the error, and no more.
  for (const c of cases.filter((x) => x.released > 0)) {
    const { out, err } = await trickle(createDecryptStream({ dataKey: key, objectId, ...c.options }), c.tamper(ct, other));
    assertEnvelopeError(err, c.code, `${c.name} (byte by byte)`);
    assert.deepEqual(out, PLAIN.subarray(0, c.released), c.name);
  }
});

/** Writes `input` one byte at a time to a flowing stream; collects what it emits until it ends or fails. */
async function trickle(stream: Transform, input: Buffer): Promise<{ out: Buffer; err: unknown }> {
  const out: Buffer[] = [];
  stream.on('data', (piece: Buffer) => out.push(piece));
  const done = new Promise<unknown>((resolve) => {
    stream.on('error', resolve);
    stream.on('end', () => resolve(undefined));
  });
  await new Promise((resolve) => setImmediate(resolve)); // let 'data' switch the stream to flowing
  for (let i = 0; i < input.length && !stream.destroyed; i++) stream.write(input.subarray(i, i + 1));
  if (!stream.destroyed) stream.end();
  const err = await done;
  return { out: Buffer.concat(out), err };
}

test('a segment is released only once its tag is in', async () => {
  const { ct } = await encrypt(PLAIN);
  const stream = createDecryptStream({ dataKey: key, objectId });
  let released = 0;
  stream.on('data', (piece: Buffer) => (released += piece.length));
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  stream.write(ct.subarray(0, seg(1) - 1)); // all of segment 0 but the last tag byte
  await settle();
  assert.equal(released, 0);
  stream.write(ct.subarray(seg(1) - 1, LAST_AT + 30)); // finishes segments 0..2, starts the last
  await settle();
  assert.equal(released, 3 * S);
  stream.end(ct.subarray(LAST_AT + 30)); // the last segment waits for the end of input
  await new Promise((resolve) => stream.on('end', resolve));
  assert.equal(released, PLAIN.length);
});

test('digest() is there only after finishing with hashing on', async () => {
  const stream = createEncryptStream({ dataKey: key, objectId });
  throwsCode(() => stream.digest(), 'ENVELOPE_DIGEST_UNAVAILABLE');
  const noHash = createEncryptStream({ dataKey: key, objectId, hash: false, segmentSize: S });
  const { out } = await run(noHash, [bytes(10)]);
  throwsCode(() => noHash.digest(), 'ENVELOPE_DIGEST_UNAVAILABLE');
  const { stream: dec } = await decrypt(out, { hash: false });
  throwsCode(() => dec.digest(), 'ENVELOPE_DIGEST_UNAVAILABLE');
  const { stream: forced } = await decrypt(out, { hash: false, expectedDigest: sha256(bytes(10)) });
  assert.deepEqual(forced.digest(), sha256(bytes(10)));
});

test('bad options are refused at construction', () => {
  const enc = (o: Partial<EncryptStreamOptions>) => () => createEncryptStream({ dataKey: key, objectId, ...o });
  const dec = (o: Partial<DecryptStreamOptions>) => () => createDecryptStream({ dataKey: key, objectId, ...o });
  throwsCode(enc({ dataKey: bytes(16) }), 'ENVELOPE_INVALID_KEY');
  throwsCode(dec({ dataKey: bytes(31) }), 'ENVELOPE_INVALID_KEY');
  throwsCode(enc({ objectId: bytes(15) }), 'ENVELOPE_INVALID_ARGUMENT');
  throwsCode(dec({ objectId: bytes(17) }), 'ENVELOPE_INVALID_ARGUMENT');
  for (const segmentSize of [0, S - 1, MAX_SEGMENT_SIZE + 1, 5000.5]) {
    throwsCode(enc({ segmentSize }), 'ENVELOPE_INVALID_ARGUMENT');
    throwsCode(dec({ maxSegmentSize: segmentSize }), 'ENVELOPE_INVALID_ARGUMENT');
  }
  throwsCode(dec({ expectedDigest: bytes(31) }), 'ENVELOPE_INVALID_ARGUMENT');
});

test('ciphertextLength counts header, frames and tags', () => {
  assert.equal(ciphertextLength(0, S), H + 5 + 16);
  assert.equal(ciphertextLength(S, S), H + (1 + S + 16) + 5 + 16);
  assert.equal(ciphertextLength(2 * S + 1, S), H + 2 * (1 + S + 16) + 5 + 1 + 16);
  assert.equal(ciphertextLength(10), H + 5 + 10 + 16);
  throwsCode(() => ciphertextLength(-1), 'ENVELOPE_INVALID_ARGUMENT');
  throwsCode(() => ciphertextLength(1.5), 'ENVELOPE_INVALID_ARGUMENT');
  throwsCode(() => ciphertextLength(1, 100), 'ENVELOPE_INVALID_ARGUMENT');
});

test('512 MiB streams through encrypt and decrypt with flat memory', async (t) => {
  const total = 512 * 1024 * 1024;
  const pool = randomBytes(1024 * 1024);
  const rand = prng(42);
  const sourceHash = createHash('sha256');
  // Warm up first, so code loading and first allocations do not count as growth.
  await decrypt((await encrypt(randomBytes(3 * DEFAULT_SEGMENT_SIZE), { segmentSize: DEFAULT_SEGMENT_SIZE })).ct);
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  let sent = 0;
  let received = 0;
  const source = function* () {
    for (let i = 0; sent < total; i++) {
      // Chunks of 1 byte .. 256 KiB, some straddling segment boundaries, never the whole object.
      const n = Math.min(total - sent, 1 + Math.floor(rand() * 256 * 1024));
      const start = Math.floor(rand() * (pool.length - n));
      const piece = pool.subarray(start, start + n);
      sourceHash.update(piece);
      sent += n;
      if (i % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      yield piece;
    }
  };
  const enc = createEncryptStream({ dataKey: key, objectId });
  const dec = createDecryptStream({ dataKey: key, objectId });
  await pipeline(Readable.from(source()), enc, dec, async (plain: AsyncIterable<Buffer>) => {
    for await (const piece of plain) received += piece.length;
  });
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.equal(received, total);
  const expected = sourceHash.digest();
  assert.deepEqual(enc.digest(), expected);
  assert.deepEqual(dec.digest(), expected);
  const growth = (peak - baseline) / 1024 / 1024;
  t.diagnostic(`rss growth ${growth.toFixed(1)} MiB`);
  assert.ok(growth < 64, `rss grew ${growth.toFixed(1)} MiB`);
});
