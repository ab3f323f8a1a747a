// Proof verification, step by step as RFC 9162 writes it. Every failure throws: a caller that
// forgets to look at a return value must not end up trusting a bad proof.

import { AuditProofError } from './errors.js';
import { HASH_SIZE, emptyRoot, hashChildren, hashesEqual } from './hash.js';
import { consistencyRanges, half, inclusionRanges, isPowerOfTwo, isTreeSize } from './ranges.js';

function malformed(message: string): AuditProofError {
  return new AuditProofError('AUDIT_PROOF_MALFORMED', message);
}

function invalid(message: string): AuditProofError {
  return new AuditProofError('AUDIT_PROOF_INVALID', message);
}

function checkHash(name: string, hash: Uint8Array): void {
  if (hash.length !== HASH_SIZE) throw malformed(`${name} is ${hash.length} bytes; SHA-256 hashes are ${HASH_SIZE}.`);
}

function checkSize(name: string, n: number): void {
  if (!isTreeSize(n)) throw malformed(`${name} must be a non-negative safe integer, got ${n}.`);
}

function checkProof(proof: readonly Uint8Array[], expected: number): void {
  // The RFC algorithms also fail on a path of the wrong length (via sn); checking it first
  // names the real problem and bounds the work done on input from outside.
  if (proof.length !== expected) {
    throw malformed(`The proof has ${proof.length} hashes; these sizes need exactly ${expected}.`);
  }
  proof.forEach((h, i) => checkHash(`Proof hash ${i}`, h));
}

/**
 * Checks that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`
 * (RFC 9162 2.1.3.2). Throws AUDIT_PROOF_MALFORMED or AUDIT_PROOF_INVALID.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkSize('index', index);
  checkSize('size', size);
  checkHash('The leaf hash', leafHash);
  checkHash('The root', root);
  // 2.1.3.2 step 1: leaf_index must be below tree_size.
  if (index >= size) throw malformed(`Leaf ${index} cannot be in a tree of ${size} leaves.`);
  checkProof(proof, inclusionRanges(index, 0, size).length);

  // Steps 2-4.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) throw invalid('The inclusion proof is longer than the tree is deep.');
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: sn must reach 0 and r must equal the root.
  if (sn !== 0 || !hashesEqual(r, root)) {
    throw invalid(`The inclusion proof for leaf ${index} does not lead to the root of the tree of ${size} leaves.`);
  }
}

/**
 * Checks that the tree of `newSize` leaves with root `newRoot` extends the tree of `oldSize`
 * leaves with root `oldRoot` (RFC 9162 2.1.4.2). Throws AUDIT_PROOF_MALFORMED or AUDIT_PROOF_INVALID.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): void {
  checkSize('oldSize', oldSize);
  checkSize('newSize', newSize);
  checkHash('The old root', oldRoot);
  checkHash('The new root', newRoot);
  if (oldSize > newSize) throw malformed(`A tree of ${oldSize} leaves cannot be a prefix of one of ${newSize}.`);
  if (oldSize === newSize || oldSize === 0) {
    // 2.1.4.2 covers 0 < first < second only. For equal sizes the proof is empty (2.1.4.1:
    // SUBPROOF(m, D[m], true) = {}) and the roots must be equal; the empty tree is a prefix of
    // every tree, and its root is MTH({}) (2.1.1).
    checkProof(proof, 0);
    const want = oldSize === 0 ? emptyRoot() : newRoot;
    if (!hashesEqual(oldRoot, want)) throw invalid(`The roots for size ${oldSize} differ.`);
    return;
  }
  checkProof(proof, consistencyRanges(oldSize, 0, newSize, true).length);

  // 2.1.4.2 steps 1-2: a non-empty path; if first is a power of two, prepend first_hash.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  const [seed, ...rest] = path;
  if (seed === undefined) throw malformed('The consistency proof is empty.');
  // Steps 3-4.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  // Steps 5-6.
  let fr = seed;
  let sr = seed;
  for (const c of rest) {
    if (sn === 0) throw invalid('The consistency proof is longer than the tree is deep.');
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7: fr must be first_hash, sr second_hash, and sn 0.
  if (sn !== 0 || !hashesEqual(fr, oldRoot) || !hashesEqual(sr, newRoot)) {
    throw invalid(`The consistency proof does not show that tree ${newSize} extends tree ${oldSize}.`);
  }
}
