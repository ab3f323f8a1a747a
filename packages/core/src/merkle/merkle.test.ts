import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AuditProofError, type AuditProofErrorCode } from './errors.js';
import { emptyRoot, hashChildren, hashLeaf } from './hash.js';
import { MemoryHashStore } from './memory-store.js';
import { compactRange, consistencyRanges, inclusionRanges } from './ranges.js';
import { TreeBuilder } from './tree-builder.js';
import { type HashReader, type NodeId, appendLeaves, consistencyProof, inclusionProof, treeHash } from './tree.js';
import { verifyConsistency, verifyInclusion } from './verify.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

// The RFC 6962 reference tree used across the Certificate Transparency test suites
// (C++ merkle_tree_test.cc, Go transparency-dev/merkle testonly): leaves, then MTH for sizes 0..8.
const CT_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(unhex);
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// Same suites; leaf indices 0-based here (the Go vectors count leaves from 1).
const CT_INCLUSION: Array<[index: number, size: number, path: string[]]> = [
  [0, 1, []],
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    1,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const CT_CONSISTENCY: Array<[oldSize: number, newSize: number, proof: string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

async function ctStore(): Promise<MemoryHashStore> {
  const store = new MemoryHashStore();
  await store.append(...CT_LEAVES);
  return store;
}

function assertCode(fn: () => unknown, code: AuditProofErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AuditProofError, `expected AuditProofError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

async function assertRejectsCode(p: Promise<unknown>, code: AuditProofErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof AuditProofError && err.code === code);
}

function flip(b: Uint8Array, at = 0): Uint8Array {
  const c = Uint8Array.from(b);
  c[at % c.length] = (c[at % c.length] as number) ^ 0x01;
  return c;
}

test('RFC 9162 2.1.1 hashing: empty tree, leaf and node prefixes', () => {
  assert.equal(hex(emptyRoot()), CT_ROOTS[0]);
  assert.equal(hex(hashLeaf(new Uint8Array())), CT_ROOTS[1]);
  assert.equal(hex(hashChildren(hashLeaf(unhex('')), hashLeaf(unhex('00')))), CT_ROOTS[2]);
});

test('the stored tree reproduces the CT reference roots for sizes 0..8', async () => {
  const store = await ctStore();
  for (let n = 0; n <= 8; n++) assert.equal(hex(await treeHash(store, n)), CT_ROOTS[n], `size ${n}`);
});

test('CT reference inclusion paths: generated exactly and verified', async () => {
  const store = await ctStore();
  for (const [index, size, path] of CT_INCLUSION) {
    const proof = await inclusionProof(store, index, size);
    assert.deepEqual(proof.map(hex), path, `leaf ${index} of ${size}`);
    verifyInclusion(
      index,
      size,
      hashLeaf(CT_LEAVES[index] as Uint8Array),
      path.map(unhex),
      unhex(CT_ROOTS[size] as string),
    );
  }
});

test('CT reference consistency proofs: generated exactly and verified', async () => {
  const store = await ctStore();
  for (const [oldSize, newSize, path] of CT_CONSISTENCY) {
    const proof = await consistencyProof(store, oldSize, newSize);
    assert.deepEqual(proof.map(hex), path, `${oldSize} -> ${newSize}`);
    verifyConsistency(
      oldSize,
      newSize,
      path.map(unhex),
      unhex(CT_ROOTS[oldSize] as string),
      unhex(CT_ROOTS[newSize] as string),
    );
  }
});

const N = 70;
const leafData = (i: number): Uint8Array => Uint8Array.of(i & 0xff, (i * 7) & 0xff, 0x5a);

async function bigStore(): Promise<{ store: MemoryHashStore; roots: Uint8Array[] }> {
  const store = new MemoryHashStore();
  for (let i = 0; i < N; i++) await store.append(leafData(i));
  const roots: Uint8Array[] = [];
  for (let n = 0; n <= N; n++) roots.push(await treeHash(store, n));
  return { store, roots };
}

test(`every inclusion proof for every size up to ${N} verifies; any change is rejected with its code`, async () => {
  const { store, roots } = await bigStore();
  const expectInclusion = (index: number, size: number, proofLength: number): AuditProofErrorCode =>
    index >= size || index < 0 || inclusionRanges(index, 0, size).length !== proofLength
      ? 'AUDIT_PROOF_MALFORMED'
      : 'AUDIT_PROOF_INVALID';
  for (let size = 1; size <= N; size++) {
    const root = roots[size] as Uint8Array;
    for (let index = 0; index < size; index++) {
      const leaf = hashLeaf(leafData(index));
      const proof = await inclusionProof(store, index, size);
      verifyInclusion(index, size, leaf, proof, root);

      proof.forEach((_, i) => {
        const bad = proof.map((h, j) => (i === j ? flip(h, index + size) : h));
        assertCode(() => verifyInclusion(index, size, leaf, bad, root), 'AUDIT_PROOF_INVALID');
      });
      assertCode(() => verifyInclusion(index, size, flip(leaf, size), proof, root), 'AUDIT_PROOF_INVALID');
      assertCode(() => verifyInclusion(index, size, leaf, proof, flip(root, index)), 'AUDIT_PROOF_INVALID');
      for (const wrong of [index - 1, index + 1, index ^ 2, size]) {
        if (wrong === index || wrong < 0) continue;
        assertCode(() => verifyInclusion(wrong, size, leaf, proof, root), expectInclusion(wrong, size, proof.length));
      }
      // A size off by one can share a path with the true size (leaf 0 of 3 and of 4 hash alike),
      // so the wrong sizes are the ones that change the tree's height, as in transparency-dev/merkle.
      for (const wrong of [size * 2, Math.floor(size / 2)]) {
        assertCode(() => verifyInclusion(index, wrong, leaf, proof, root), expectInclusion(index, wrong, proof.length));
      }
      assertCode(() => verifyInclusion(index, size, leaf, [...proof, leaf], root), 'AUDIT_PROOF_MALFORMED');
      assertCode(() => verifyInclusion(index, size, leaf, [leaf, ...proof], root), 'AUDIT_PROOF_MALFORMED');
      if (proof.length > 0) {
        assertCode(() => verifyInclusion(index, size, leaf, proof.slice(1), root), 'AUDIT_PROOF_MALFORMED');
        const short = proof.map((h, j) => (j === 0 ? h.subarray(1) : h));
        assertCode(() => verifyInclusion(index, size, leaf, short, root), 'AUDIT_PROOF_MALFORMED');
      }
    }
  }
});

test(`every consistency proof between sizes up to ${N} verifies; any change is rejected with its code`, async () => {
  const { store, roots } = await bigStore();
  for (let newSize = 0; newSize <= N; newSize++) {
    const newRoot = roots[newSize] as Uint8Array;
    for (let oldSize = 0; oldSize <= newSize; oldSize++) {
      const oldRoot = roots[oldSize] as Uint8Array;
      const proof = await consistencyProof(store, oldSize, newSize);
      verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot);

      proof.forEach((_, i) => {
        const bad = proof.map((h, j) => (i === j ? flip(h, oldSize + newSize) : h));
        assertCode(() => verifyConsistency(oldSize, newSize, bad, oldRoot, newRoot), 'AUDIT_PROOF_INVALID');
      });
      assertCode(() => verifyConsistency(oldSize, newSize, proof, flip(oldRoot), newRoot), 'AUDIT_PROOF_INVALID');
      if (oldSize > 0) {
        assertCode(() => verifyConsistency(oldSize, newSize, proof, oldRoot, flip(newRoot)), 'AUDIT_PROOF_INVALID');
      }
      assertCode(
        () => verifyConsistency(oldSize, newSize, [...proof, newRoot], oldRoot, newRoot),
        'AUDIT_PROOF_MALFORMED',
      );
      if (proof.length > 0) {
        assertCode(
          () => verifyConsistency(oldSize, newSize, proof.slice(1), oldRoot, newRoot),
          'AUDIT_PROOF_MALFORMED',
        );
      }
      // Wrong sizes. As for inclusion, a new size off by one can share the proof's shape, so the
      // new size changes the tree's height instead.
      for (const [a, b] of [
        [oldSize + 1, newSize],
        [oldSize - 1, newSize],
        [oldSize, newSize * 2],
        [oldSize, Math.floor(newSize / 2)],
      ] as const) {
        // (Any tree extends the empty one, so a wrong new size proves nothing false when a is 0.)
        if (a <= 0 || (a === oldSize && b === newSize)) continue;
        const expected =
          a > b || (a === 0 || a === b ? 0 : consistencyRanges(a, 0, b, true).length) !== proof.length
            ? 'AUDIT_PROOF_MALFORMED'
            : 'AUDIT_PROOF_INVALID';
        assertCode(() => verifyConsistency(a, b, proof, oldRoot, newRoot), expected);
      }
    }
  }
});

test('verifiers reject impossible parameters as malformed', () => {
  const h = hashLeaf(new Uint8Array());
  assertCode(() => verifyInclusion(0, 0, h, [], h), 'AUDIT_PROOF_MALFORMED');
  assertCode(() => verifyInclusion(-1, 4, h, [], h), 'AUDIT_PROOF_MALFORMED');
  assertCode(() => verifyInclusion(0.5, 4, h, [], h), 'AUDIT_PROOF_MALFORMED');
  assertCode(() => verifyInclusion(0, 2 ** 53, h, [], h), 'AUDIT_PROOF_MALFORMED');
  assertCode(() => verifyInclusion(0, 1, h.subarray(1), [], h), 'AUDIT_PROOF_MALFORMED');
  assertCode(() => verifyConsistency(5, 4, [], h, h), 'AUDIT_PROOF_MALFORMED');
  assertCode(() => verifyConsistency(0, 4, [h], emptyRoot(), h), 'AUDIT_PROOF_MALFORMED');
  // The empty tree is a prefix of any tree, but only with its own root, MTH({}).
  verifyConsistency(0, 4, [], emptyRoot(), h);
  assertCode(() => verifyConsistency(0, 4, [], h, h), 'AUDIT_PROOF_INVALID');
  assertCode(() => verifyConsistency(3, 3, [], h, flip(h)), 'AUDIT_PROOF_INVALID');
});

test('provers reject impossible requests, and a size beyond the stored tree', async () => {
  const store = await ctStore();
  await assertRejectsCode(inclusionProof(store, 8, 8), 'AUDIT_RANGE_INVALID');
  await assertRejectsCode(inclusionProof(store, -1, 8), 'AUDIT_RANGE_INVALID');
  await assertRejectsCode(consistencyProof(store, 5, 4), 'AUDIT_RANGE_INVALID');
  await assertRejectsCode(treeHash(store, 1.5), 'AUDIT_RANGE_INVALID');
  await assertRejectsCode(treeHash(store, 9), 'AUDIT_NODE_MISSING');
  await assertRejectsCode(inclusionProof(store, 0, 9), 'AUDIT_NODE_MISSING');
  await assertRejectsCode(appendLeaves(store, 9, [new Uint8Array()]), 'AUDIT_NODE_MISSING');
});

test('a batch append stores the same nodes as one-by-one appends, O(log n) per leaf', async () => {
  const one = new MemoryHashStore();
  for (let i = 0; i < 50; i++) await one.append(leafData(i));
  const batched = new MemoryHashStore();
  for (const [lo, hi] of [
    [0, 3],
    [3, 4],
    [4, 31],
    [31, 50],
  ] as const) {
    const nodes = await appendLeaves(
      batched,
      lo,
      Array.from({ length: hi - lo }, (_, i) => leafData(lo + i)),
    );
    // Each leaf n writes its own node plus one per trailing 1 bit of n.
    let expected = 0;
    for (let n = lo; n < hi; n++) {
      expected++;
      for (let m = n; m % 2 === 1; m = (m - 1) / 2) expected++;
    }
    assert.equal(nodes.length, expected);
    batched.putNodes(nodes);
  }
  for (let n = 0; n <= 50; n++) assert.equal(hex(await treeHash(batched, n)), hex(await treeHash(one, n)));
});

test('each root or proof costs one batched read of the store', async () => {
  const store = await ctStore();
  const calls: NodeId[][] = [];
  const counting: HashReader = {
    getNodes: (ids) => {
      calls.push([...ids]);
      return store.getNodes(ids);
    },
  };
  await treeHash(counting, 7);
  await inclusionProof(counting, 5, 7);
  await consistencyProof(counting, 3, 7);
  await appendLeaves(counting, 7, [new Uint8Array(), new Uint8Array()]);
  assert.equal(calls.length, 4);
  assert.deepEqual(calls[0], [
    { level: 2, index: 0 },
    { level: 1, index: 2 },
    { level: 0, index: 6 },
  ]);
});

test('sizes past 2^32 work: no 32-bit bitwise arithmetic in the prover or verifiers', async () => {
  // A virtual tree whose leaves are all equal: a complete subtree's hash depends on its level only.
  const byLevel = [hashLeaf(Uint8Array.of(7))];
  for (let l = 1; l < 60; l++) byLevel.push(hashChildren(byLevel[l - 1] as Uint8Array, byLevel[l - 1] as Uint8Array));
  const reader: HashReader = { getNodes: (ids) => Promise.resolve(ids.map((id) => byLevel[id.level])) };
  const size = 2 ** 33 + 5;
  const oldSize = 2 ** 32 + 3;
  const root = await treeHash(reader, size);
  const index = 2 ** 32 + 1;
  verifyInclusion(index, size, byLevel[0] as Uint8Array, await inclusionProof(reader, index, size), root);
  const oldRoot = await treeHash(reader, oldSize);
  verifyConsistency(oldSize, size, await consistencyProof(reader, oldSize, size), oldRoot, root);
  const big = Number.MAX_SAFE_INTEGER;
  const bigRoot = await treeHash(reader, big);
  verifyInclusion(big - 1, big, byLevel[0] as Uint8Array, await inclusionProof(reader, big - 1, big), bigRoot);
  verifyConsistency(size, big, await consistencyProof(reader, size, big), root, bigRoot);
  assert.equal((await appendLeaves(reader, 2 ** 40 - 1, [Uint8Array.of(7)])).length, 41);
});

test('a log pruned at any cut keeps only the compact range of the dropped part, and every later root and proof still works', async () => {
  const M = 40;
  const { roots } = await bigStore();
  for (let cut = 0; cut <= M; cut++) {
    const store = new MemoryHashStore();
    for (let i = 0; i < cut; i++) await store.append(leafData(i));
    store.prune(cut);
    // The compact range survives and reproduces the root at the cut; a builder continues from it.
    const range = await store.getNodes(compactRange(cut));
    assert.ok(range.every((h) => h !== undefined), `compact range of ${cut}`);
    const tb = TreeBuilder.fromCompactRange(cut, range);
    assert.equal(hex(tb.root()), hex(roots[cut] as Uint8Array), `builder at the cut ${cut}`);
    // Appending after the cut reads only kept nodes.
    for (let i = cut; i < M; i++) {
      await store.append(leafData(i));
      tb.append(leafData(i));
      assert.equal(hex(tb.root()), hex(roots[i + 1] as Uint8Array));
    }
    // Anything inside the dropped part that is not a compact-range node is gone.
    if (cut >= 2) await assertRejectsCode(inclusionProof(store, 0, M), 'AUDIT_NODE_MISSING');
    for (let size = cut; size <= M; size++) {
      const root = roots[size] as Uint8Array;
      assert.equal(hex(await treeHash(store, size)), hex(root), `root ${size} after cut ${cut}`);
      for (let index = cut; index < size; index++) {
        verifyInclusion(index, size, hashLeaf(leafData(index)), await inclusionProof(store, index, size), root);
      }
      for (let oldSize = Math.max(cut, 1); oldSize <= size; oldSize++) {
        const proof = await consistencyProof(store, oldSize, size);
        verifyConsistency(oldSize, size, proof, roots[oldSize] as Uint8Array, root);
      }
    }
  }
  assert.throws(() => TreeBuilder.fromCompactRange(5, [hashLeaf(Uint8Array.of(1))]), /has 2 hashes/);
});
