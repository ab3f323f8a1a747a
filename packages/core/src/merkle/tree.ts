// A Merkle tree (RFC 9162 2.1) computed from stored complete-subtree hashes, so a server keeps
// the tree in a database and answers any root or proof with one batched read. The layout is
// that of Go's golang.org/x/mod/sumdb/tlog: a node is written once, when its subtree fills, and
// never changes, so the table is insert-only.

import { AuditProofError } from './errors.js';
import { HASH_SIZE, emptyRoot, hashChildren, hashLeaf } from './hash.js';
import { type LeafRange, type NodeId, consistencyRanges, inclusionRanges, isTreeSize, rangeNodes } from './ranges.js';

export type { NodeId } from './ranges.js';

export interface StoredNode extends NodeId {
  readonly hash: Uint8Array;
}

/** Read side of the node store. Batched, so a database answers a whole proof with one query. */
export interface HashReader {
  /** The hash of each node in `ids`, in the same order; `undefined` for a node not stored. */
  getNodes(ids: readonly NodeId[]): Promise<ReadonlyArray<Uint8Array | undefined>>;
}

async function readNodes(reader: HashReader, ids: readonly NodeId[]): Promise<Uint8Array[]> {
  if (ids.length === 0) return [];
  const got = await reader.getNodes(ids);
  return ids.map((id, i) => {
    const hash = got[i];
    if (hash?.length !== HASH_SIZE) {
      throw new AuditProofError(
        'AUDIT_NODE_MISSING',
        `The audit store has no valid hash for node (level ${id.level}, index ${id.index}): the tree is ` +
          'smaller than the size asked for, or the store is incomplete.',
        { details: { level: id.level, index: id.index } },
      );
    }
    return hash;
  });
}

function foldRight(hashes: readonly Uint8Array[]): Uint8Array {
  let acc = hashes.at(-1);
  if (acc === undefined) return emptyRoot();
  for (let i = hashes.length - 2; i >= 0; i--) acc = hashChildren(hashes[i] as Uint8Array, acc);
  return acc;
}

/** MTH of each range, from one read of all the nodes they need. */
async function hashRanges(reader: HashReader, ranges: readonly LeafRange[]): Promise<Uint8Array[]> {
  const pieces = ranges.map(([lo, hi]) => rangeNodes(lo, hi));
  const hashes = await readNodes(reader, pieces.flat());
  let at = 0;
  return pieces.map((p) => foldRight(hashes.slice(at, (at += p.length))));
}

function checkSize(name: string, n: number): void {
  if (!isTreeSize(n)) {
    throw new AuditProofError('AUDIT_RANGE_INVALID', `${name} must be a non-negative safe integer, got ${n}.`);
  }
}

/**
 * The nodes to store when `leaves` are appended to a tree of `size` leaves: each leaf's hash and
 * every subtree it completes (1 + trailing ones of its index, so O(log n) per leaf). It reads the
 * already-stored left siblings in one call. Write the nodes and the new size in one transaction.
 */
export async function appendLeaves(
  reader: HashReader,
  size: number,
  leaves: readonly Uint8Array[],
): Promise<StoredNode[]> {
  checkSize('size', size);
  checkSize('size after append', size + leaves.length);
  const key = (level: number, index: number): string => `${level}/${index}`;
  // Leaf n merges with the left sibling (level, index - 1) at each level where its node index
  // is odd. Siblings that end at or before `size` are stored; the rest are made in this batch.
  const stored: NodeId[] = [];
  for (let n = size; n < size + leaves.length; n++) {
    for (let index = n, level = 0; index % 2 === 1; index = (index - 1) / 2, level++) {
      if (index * 2 ** level <= size) stored.push({ level, index: index - 1 });
    }
  }
  const known = new Map<string, Uint8Array>();
  const read = await readNodes(reader, stored);
  stored.forEach((id, i) => known.set(key(id.level, id.index), read[i] as Uint8Array));

  const out: StoredNode[] = [];
  leaves.forEach((leaf, j) => {
    let index = size + j;
    let level = 0;
    let hash = hashLeaf(leaf);
    for (;;) {
      out.push({ level, index, hash });
      known.set(key(level, index), hash);
      if (index % 2 === 0) break;
      hash = hashChildren(known.get(key(level, index - 1)) as Uint8Array, hash);
      index = (index - 1) / 2;
      level++;
    }
  });
  return out;
}

/** RFC 9162 2.1.1: MTH(D[size]), the root of the first `size` leaves. */
export async function treeHash(reader: HashReader, size: number): Promise<Uint8Array> {
  checkSize('size', size);
  if (size === 0) return emptyRoot();
  const [root] = await hashRanges(reader, [[0, size]]);
  return root as Uint8Array;
}

/** RFC 9162 2.1.3.1: the inclusion proof PATH(index, D[size]) for leaf `index`. */
export async function inclusionProof(reader: HashReader, index: number, size: number): Promise<Uint8Array[]> {
  checkSize('size', size);
  checkSize('index', index);
  if (index >= size) {
    throw new AuditProofError('AUDIT_RANGE_INVALID', `Leaf ${index} is not in a tree of ${size} leaves.`);
  }
  return hashRanges(reader, inclusionRanges(index, 0, size));
}

/** RFC 9162 2.1.4.1: the consistency proof PROOF(oldSize, D[newSize]); empty when oldSize is 0 or newSize. */
export async function consistencyProof(reader: HashReader, oldSize: number, newSize: number): Promise<Uint8Array[]> {
  checkSize('oldSize', oldSize);
  checkSize('newSize', newSize);
  if (oldSize > newSize) {
    throw new AuditProofError(
      'AUDIT_RANGE_INVALID',
      `A tree of ${oldSize} leaves cannot be a prefix of one of ${newSize}.`,
    );
  }
  if (oldSize === 0) return [];
  return hashRanges(reader, consistencyRanges(oldSize, 0, newSize, true));
}
