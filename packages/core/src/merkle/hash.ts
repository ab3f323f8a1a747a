import { createHash, hash, timingSafeEqual } from 'node:crypto';

/** Every leaf hash, node hash and root in the tree is a SHA-256 output. */
export const HASH_SIZE = 32;

// One-shot crypto.hash over a reused buffer is about 1.5x faster than createHash().update(), and
// the offline verifier hashes about twice per event. Reuse is safe: hashing is synchronous.
const MAX_SCRATCH = 64 * 1024;
let leafScratch = Buffer.alloc(1024);
const nodeScratch = Buffer.alloc(1 + 2 * HASH_SIZE);

/**
 * RFC 9162 2.1.1: MTH({d(0)}) = HASH(0x00 || d(0)). The distinct prefixes for leaves and
 * nodes stop a node from being passed off as a leaf (second-preimage attack).
 */
export function hashLeaf(data: Uint8Array): Uint8Array {
  const n = data.length + 1;
  if (n > leafScratch.length) {
    if (n > MAX_SCRATCH) return createHash('sha256').update(Uint8Array.of(0x00)).update(data).digest();
    leafScratch = Buffer.alloc(2 ** Math.ceil(Math.log2(n)));
  }
  leafScratch[0] = 0x00;
  leafScratch.set(data, 1);
  return hash('sha256', leafScratch.subarray(0, n), 'buffer');
}

/** RFC 9162 2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])), for two 32-byte hashes. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) throw new RangeError('Tree hashes are 32 bytes.');
  nodeScratch[0] = 0x01;
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return hash('sha256', nodeScratch, 'buffer');
}

/** RFC 9162 2.1.1: MTH({}) = HASH(), the SHA-256 of the empty string. A fresh copy each call. */
export function emptyRoot(): Uint8Array {
  return createHash('sha256').digest();
}

export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
